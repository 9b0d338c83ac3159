"""What a run costs the machine, epoch by epoch: the training process's CPU use and resident memory and, on an NVIDIA
GPU, its memory and utilisation (psutil; NVIDIA's management library where a GPU is present). The run's system.csv
holds a row per epoch; its page draws them.
"""

from __future__ import annotations

import contextlib

import keras

from harness.records import RunDir


class SystemMetrics(keras.callbacks.Callback):
    def __init__(self, run: RunDir):
        super().__init__()
        self.run = run
        self.gpu = _gpu_handle()

    def on_train_begin(self, logs=None):
        import psutil

        self.process = psutil.Process()
        self.process.cpu_percent(None)  # from now: each call measures since the one before

    def on_epoch_end(self, epoch, logs=None):
        row = {
            "epoch": epoch,
            "cpu_percent": round(self.process.cpu_percent(None), 1),  # 100 per busy core
            "rss_mb": round(self.process.memory_info().rss / 2**20, 1),
        }
        self.run.append_system(row | _gpu_use(self.gpu))


def _gpu_handle():
    """The first NVIDIA GPU's handle, or None where there is none (or no NVIDIA library to ask)."""
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml.nvmlDeviceGetHandleByIndex(0)
    except Exception:  # noqa: BLE001 - no library, no driver, no GPU: there is nothing to measure
        return None


def _gpu_use(handle) -> dict:
    if handle is None:
        return {}
    import pynvml

    with contextlib.suppress(pynvml.NVMLError):
        memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
        rates = pynvml.nvmlDeviceGetUtilizationRates(handle)
        return {"gpu_memory_mb": round(memory.used / 2**20, 1), "gpu_utilization": rates.gpu}
    return {}

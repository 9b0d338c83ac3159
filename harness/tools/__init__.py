"""What a user runs beside experiments: the gradient check (make gradcheck) and Optuna's dashboard (make dashboard)."""

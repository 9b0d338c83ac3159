"""What every section of an experiment file shares: unknown keys are refused, values never change once read."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Probability = Annotated[float, Field(ge=0, lt=1)]


class Section(BaseModel):
    """Every section rejects keys it does not know, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)

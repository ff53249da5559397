"""Response models of the service (what its OpenAPI page documents)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Window(BaseModel):
    start_s: float
    end_s: float
    score: float


class ScoreResult(BaseModel):
    model: str = Field(description="name of the model that scored")
    model_version: str = Field(description="first 12 hex digits of the model file's sha256")
    detector: str
    score: float = Field(description="the detector's score, as `bench score` gives it (higher = bona fide)")
    llr: float | None = Field(description="calibrated natural-log likelihood ratio (null: model without a policy)")
    decision: str | None = Field(description="`bona fide`, `spoof` or `review` (null: model without a policy)")
    flags: list[str] = Field(description="short, silent, clipped, resampled, downmixed: scores to distrust")
    duration_s: float
    sample_rate: int = Field(description="the upload's own sample rate")
    channels: int
    windows: list[Window] | None = Field(description="per-window scores of audio longer than one model window")
    processing_ms: float


class ItemError(BaseModel):
    status: int
    detail: str


class BatchItem(BaseModel):
    model_config = ConfigDict(extra="allow")
    error: ItemError | None = None


class BatchResult(BaseModel):
    model: str
    results: list[ScoreResult | BatchItem]


class JobInfo(BaseModel):
    id: str
    status: str = Field(description="queued, running, done or failed")
    model: str
    submitted: str
    finished: str | None = None
    result: ScoreResult | None = None
    error: ItemError | None = None


class ModelInfo(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    version: str
    detector: str
    sample_rate: int
    calibrated: bool

"""Audio a detector will score but should not be trusted on: too short, silent, clipped, resampled, down-mixed.

A detector returns a number for any waveform, and for silence or a 5 ms file that number can be the most
"bona fide" of a folder. :func:`quality_flags` names such files so that ``bench score`` can say so beside
the score. The thresholds are constants here so that the documentation can state them.
"""
from __future__ import annotations

import math

from .describe import AudioCheck

#: Minimum input length when the detector does not state one (``detector.min_samples``), in seconds.
DEFAULT_MIN_SECONDS = 0.5
#: A file whose mono RMS level is below this (dB full scale) is ``silent``.
SILENT_RMS_DBFS = -60.0
#: A file with at least this share of its samples at 16-bit full scale is ``clipped``.
CLIPPED_FRACTION = 0.001
#: Every flag, in the order they are listed.
FLAGS = ("short", "silent", "clipped", "resampled", "downmixed")


def min_samples_of(detector) -> int:
    """The shortest input ``detector`` is meant for, in samples at its own rate: its ``min_samples`` attribute
    when it has one, else :data:`DEFAULT_MIN_SECONDS`."""
    stated = getattr(detector, "min_samples", None)
    if stated is not None:
        return int(stated)
    return int(round(DEFAULT_MIN_SECONDS * int(getattr(detector, "sample_rate", 16000))))


def quality_flags(check: AudioCheck, *, sample_rate: int, min_samples: int) -> list[str]:
    """Flags of one file checked with ``check_audio_file(path, None, decode=True)`` (without a problem), for a
    detector that reads ``sample_rate`` Hz and needs ``min_samples`` samples; an empty list when none apply."""
    info, levels = check.info, check.levels
    flags = []
    if info is not None and info.frames * sample_rate / info.sample_rate < min_samples:
        flags.append("short")
    if levels is not None:
        if levels.rms <= 0 or 20 * math.log10(levels.rms) < SILENT_RMS_DBFS:
            flags.append("silent")
        if levels.full_scale_fraction >= CLIPPED_FRACTION:
            flags.append("clipped")
    if info is not None and info.sample_rate != sample_rate:
        flags.append("resampled")
    if info is not None and info.channels > 1:
        flags.append("downmixed")
    return flags


def thresholds(min_samples: int, sample_rate: int) -> dict:
    """The thresholds behind the flags, for a summary file."""
    return {"short_below_samples": int(min_samples), "sample_rate": int(sample_rate),
            "silent_rms_below_dbfs": SILENT_RMS_DBFS, "clipped_full_scale_fraction": CLIPPED_FRACTION}

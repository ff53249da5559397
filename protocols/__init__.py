"""Corpus formats, trial tables and audio loading: the first link of the data chain.

protocol -> trials -> detector.fit / detector.score -> score table -> fusion -> metrics -> report
"""
from .audio import AudioInfo, audio_info, load_audio, resample, write_audio
from .errors import AudioError, BenchError, ConfigError, ProtocolError
from .registry import detect_protocol, get_protocol, list_protocols, load_trials, plugin_errors, register_protocol
from .trials import CORE_COLUMNS, LABELS, NO_ATTACK, TrialTable

__all__ = [
    "AudioError", "AudioInfo", "BenchError", "CORE_COLUMNS", "ConfigError", "LABELS", "NO_ATTACK",
    "ProtocolError", "TrialTable", "audio_info", "detect_protocol", "get_protocol", "list_protocols",
    "load_audio", "load_trials", "plugin_errors", "register_protocol", "resample", "write_audio",
]

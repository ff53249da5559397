"""The built-in demo corpus: synthetic speech and signal-processing spoofs in the ASVspoof 2019 LA layout.

``make_demo_corpus(root)`` writes, in seconds, a small corpus that every part of the toolkit can run on
without any download::

    ROOT/README.md, ROOT/demo_corpus.json          what this is; generator version, seed and sizes
    ROOT/metadata/utterances.tsv                    one row per FLAC file (speaker, gender, attack family,
                                                    vocoder, channel parameters, ...)
    ROOT/LA/ASVspoof2019_LA_{train,dev,eval}/flac/LA_{T,D,E}_NNNNNNN.flac     16 kHz, 16-bit, mono
    ROOT/LA/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.{train.trn,dev.trl,eval.trl}.txt
    ROOT/LA/ASVspoof2019_LA_asv_protocols/ASVspoof2019.LA.asv.{dev,eval}.{female,male}.trn.txt, .gi.trl.txt
    ROOT/LA/ASVspoof2019_LA_asv_scores/ASVspoof2019.LA.asv.{dev,eval}.gi.trl.scores.txt

Bona fide: source-filter speech-like utterances (:mod:`.speech`) of several synthetic speakers. Spoofs:
vocoders and conversions (:mod:`.vocoders`) applied to fresh speech of the target speaker (or, for
conversions, of another speaker). As in ASVspoof 2019, train and dev hold A01-A06 and eval A07-A19, where A16
is A04 and A19 is A06 and the other eval attacks are new (some from a family seen in training, some not).
Every file, bona fide or spoof, then goes through the same random channel (duration, leading and trailing
silence, band-pass, tilt, noise, level), so that duration, level and bandwidth carry no label information.
The ASV scores come from a real GMM-UBM speaker verifier (:mod:`.asv`) run on the generated audio.

Modules: :mod:`.layout` (splits, names, attacks), :mod:`.corpus` (the generator), :mod:`.asv`,
:mod:`.speech`, :mod:`.vocoders`, :mod:`.reader` (the ``demo`` protocol, registered on import).
"""
from . import reader  # noqa: F401  (registers the "demo" protocol)
from .corpus import DemoParams, make_demo_corpus, minimum_trials
from .layout import ATTACKS, GENERATOR_VERSION, MARKER, SPLIT_ATTACKS, Attack, read_demo_marker

__all__ = ["ATTACKS", "Attack", "DemoParams", "GENERATOR_VERSION", "MARKER", "SPLIT_ATTACKS", "make_demo_corpus",
           "minimum_trials", "read_demo_marker"]

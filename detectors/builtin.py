"""The built-in detector families, declared without importing them: ``bench list``, ``bench --help`` and name
checks must not pay for torch, librosa or scikit-learn. Each family's module is imported the first time one of
its detectors is created (or its presets' values are read); its ``@register_detector`` must name the same
presets and default as declared here (checked then, and by tests/test_conformance.py)."""
from .registry import declare_detector

declare_detector("spectral-lr", "spoofbench.detectors.spectral_lr:SpectralLR",
                 presets=("default",), default_preset="default",
                 description="logistic regression on log-spectrum statistics (reference example)")
declare_detector("rawnet2", "spoofbench.detectors.rawnet2.detector:RawNet2",
                 presets=("asvspoof2021", "icassp21", "asvspoof5", "small"), default_preset="asvspoof2021",
                 description="RawNet2 end-to-end CM on raw waveforms (ASVspoof 2021 / ICASSP 2021 / ASVspoof 5)")
declare_detector("aasist", "spoofbench.detectors.aasist.detector:AASIST",
                 presets=("aasist", "l", "asvspoof5", "small", "pretrained-la19", "l.pretrained-la19",
                          "pretrained-asv5"), default_preset="aasist",
                 description="AASIST spectro-temporal graph attention CM on raw waveforms (AASIST 297,866 "
                             "parameters, L 85,306; official pre-trained weights shipped)")
declare_detector("lfcc-gmm", "spoofbench.detectors.gmm_baselines:LFCCGMM",
                 presets=("asvspoof2019", "asvspoof2021", "small"), default_preset="asvspoof2019",
                 description="LFCC front end + bona fide/spoof diagonal GMMs (ASVspoof 2019/2021 baseline)")
declare_detector("cqcc-gmm", "spoofbench.detectors.gmm_baselines:CQCCGMM",
                 presets=("asvspoof2019", "asvspoof2021", "small"), default_preset="asvspoof2019",
                 description="CQCC front end + bona fide/spoof diagonal GMMs (ASVspoof 2019/2021 baseline)")
declare_detector("lfcc-lcnn", "spoofbench.detectors.lcnn.detector:LFCCLCNN",
                 presets=("asvspoof2021", "small"), default_preset="asvspoof2021",
                 description="LFCC + LCNN (max-feature-map) + BLSTM, ASVspoof 2021 LA/DF baseline "
                             "(269,729 parameters; small 4,653)")

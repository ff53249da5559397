"""The neural engine shared by the end-to-end detectors: waveform data (crops, tiling, sliding windows), the
training loop (dev-EER selection, checksummed epoch checkpoints, exact resume, torchrun), batched and fast
inference, and the CPU set-up (allocator; what the instruction set runs natively comes from
``spoofbench.detectors.cpu``, re-exported here). A network family subclasses
``NeuralDetector`` and supplies its ``nn.Module`` (``build_model``); the recipe is a ``TrainingRecipe``.

    from spoofbench.detectors.neural import NeuralDetector, TrainingRecipe, cpu_isa, native_bf16
"""
from ..cpu import cpu_isa, native_bf16
from .checkpoints import load_state_dict_file, verify_sha256, verify_zip
from .detector import NeuralDetector
from .pretrained import PretrainedWeights, register_weights
from .training import TrainingRecipe

__all__ = ["NeuralDetector", "PretrainedWeights", "TrainingRecipe", "cpu_isa", "load_state_dict_file", "native_bf16",
           "register_weights", "verify_sha256", "verify_zip"]

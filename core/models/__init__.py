"""Model architectures, one per module, built from ``{"name", "args"}`` specs via :mod:`.registry`.

Importing this package registers: ``edsr-baseline``, ``rdn``, ``mlp``, ``liif``, ``lmmlp``, ``lmliif`` (LM-LIIF).
"""

from . import edsr, liif, lmf, mlp, rdn  # noqa: F401  (registration side effects)
from . import discriminator  # noqa: F401  (registers vgg-discriminator)
from .ensemble import Features
from .liif import LIIF, liif_spec
from .lmf import LMF, lmf_spec
from .decoder import GridDecoder, ImplicitDecoder, ModelDescriptor
from .registry import generator_spec, generator_types, make, register, register_generator, registered

__all__ = ["LIIF", "LMF", "Features", "liif_spec", "lmf_spec", "make", "register", "registered", "register_generator",
           "generator_spec", "generator_types", "ImplicitDecoder", "GridDecoder", "ModelDescriptor"]

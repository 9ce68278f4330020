"""Lets Hugging Face transformers' own generation code (5.x, checked with v5.12.1) load here, with
Debian 12's python3-torch 1.13 and without the wheels it imports for other jobs, so that open_clip's
`generate` (which hands beam search to transformers' GenerationMixin) runs as a reference.

  import transformers_shims; transformers_shims.install(TRANSFORMERS_SRC)   # before importing transformers

TRANSFORMERS_SRC is the `src` folder of a transformers checkout (it holds `transformers/`). What is
replaced, and why none of it is on the beam-search path:
- huggingface_hub, safetensors, tokenizers, httpx: hub downloads, weight files and tokenizers.
  Every name imported from them is a placeholder (usable as a type, a base class or a decorator);
  the few constants read while loading are given as data. Nothing here downloads anything.
- transformers' installed-version check (regex, tqdm, ... newer than Debian 12's) and its refusal
  of torch < 2.4, which is a version-string comparison: the modules that run are what is tested.
- torch 2 names the loading code touches: torch.compiler (its answers when nothing is compiled),
  torch.utils._pytree.register_pytree_node (1.13's _register_pytree_node), and the distributed
  modules 1.13 lacks or cannot import on Python 3.11 (device_mesh; fsdp's dataclass error), so
  no module counts as FSDP-managed.
Needs Debian's python3-packaging, python3-tqdm and python3-filelock besides python3-torch.
"""
import importlib
import importlib.abc
import importlib.machinery
import importlib.metadata
import sys
import types

STUBBED = ("huggingface_hub", "safetensors", "tokenizers", "httpx")
TORCH_ABSENT = ("torch.distributed.device_mesh", "torch.distributed.fsdp")
# Values read as data while transformers loads (paths, flags), not called.
VALUES = {
    "huggingface_hub.constants": {"HF_HOME": "/nonexistent/hf-home", "HF_HUB_CACHE": "/nonexistent/hf-home/hub",
                                  "HUGGINGFACE_HUB_CACHE": "/nonexistent/hf-home/hub", "HF_HUB_OFFLINE": True,
                                  "HF_HUB_DISABLE_TELEMETRY": True, "ENDPOINT": "http://127.0.0.1:9"},
}


class _AnyMeta(type):
    """A placeholder class: any attribute is another placeholder; called on a function it returns
    the function (a decorator); called otherwise it is an instance that behaves the same."""

    def __call__(cls, *a, **k):
        if len(a) == 1 and callable(a[0]) and not k:
            return a[0]
        return super().__call__()

    def __getattr__(cls, n):
        if n.startswith("__"):
            raise AttributeError(n)
        return _AnyMeta(n, (_Any,), {})


class _Any(metaclass=_AnyMeta):
    def __getattr__(self, n):
        return _AnyMeta(n, (_Any,), {})

    def __call__(self, *a, **k):  # what a decorator factory returned
        return a[0] if len(a) == 1 and callable(a[0]) and not k else _Any()


class _StubModule(types.ModuleType):
    __version__ = "0.0.0+stub"

    def __getattr__(self, n):
        if n.startswith("__"):
            raise AttributeError(n)
        if f"{self.__name__}.{n}" in VALUES:
            return importlib.import_module(f"{self.__name__}.{n}")
        if n in VALUES.get(self.__name__, {}):
            return VALUES[self.__name__][n]
        return _AnyMeta(n, (_Any,), {})


class _Stubs(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in STUBBED or any(name == t or name.startswith(t + ".") for t in TORCH_ABSENT):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        m = _StubModule(spec.name)
        m.__path__ = []
        return m

    def exec_module(self, module):
        pass


def install(transformers_src):
    import torch
    import torch.utils._pytree as pytree

    sys.meta_path.insert(0, _Stubs())
    real_version = importlib.metadata.version
    importlib.metadata.version = lambda name: "2.4.0" if name == "torch" else real_version(name)
    skip = types.ModuleType("transformers.dependency_versions_check")
    skip.dep_version_check = lambda *a, **k: None
    sys.modules["transformers.dependency_versions_check"] = skip
    if not hasattr(torch, "compiler"):
        def disable(fn=None, recursive=True, **k):
            return fn if fn is not None else (lambda f: f)
        torch.compiler = types.SimpleNamespace(is_compiling=lambda: False, is_exporting=lambda: False, disable=disable,
                                               allow_in_graph=lambda f: f, reset=lambda: None)
    if not hasattr(pytree, "register_pytree_node"):
        pytree.register_pytree_node = lambda cls, flatten, unflatten, **k: pytree._register_pytree_node(cls, flatten, unflatten)
    sys.path.insert(0, str(transformers_src))
    import transformers
    return transformers.__version__

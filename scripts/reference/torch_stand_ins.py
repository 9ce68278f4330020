"""Stand-ins for the few torch callables a state dict names (torch._utils._rebuild_tensor_v2 and
the storage classes), so that Python's own pickle writes torch.save's data.pkl without torch:
shared by torch_zip_fixtures.py and torch_zip_more.py.
"""
import collections
import io
import pickle
import sys
import types

torch = types.ModuleType('torch')
utils = types.ModuleType('torch._utils')
for cls in ('FloatStorage', 'HalfStorage', 'BFloat16Storage', 'DoubleStorage', 'LongStorage'):
    c = type(cls, (), {})
    c.__module__ = 'torch'
    setattr(torch, cls, c)


def _rebuild_tensor_v2(*args):
    raise RuntimeError('never called here')


_rebuild_tensor_v2.__module__ = 'torch._utils'
utils._rebuild_tensor_v2 = _rebuild_tensor_v2
sys.modules['torch'] = torch
sys.modules['torch._utils'] = utils


class Storage:
    def __init__(self, cls, key, numel):
        self.cls, self.key, self.numel = getattr(torch, cls), str(key), numel


class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce_ex__(self, protocol):
        return (_rebuild_tensor_v2, self.args)


class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ('storage', obj.cls, obj.key, 'cpu', obj.numel)
        return None


def dumps(obj):
    """data.pkl's bytes for obj, its storages as torch.save's persistent ids."""
    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()

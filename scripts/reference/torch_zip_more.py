"""More state dicts in torch.save's zip layout for test/unit/mutation/interop-rest.test.ts, written
the way torch_zip_fixtures.py writes its own (Python's pickle and zipfile, stand-ins for torch's
callables, no torch), for the refusals and filters of src/interop/state-dict.ts no earlier fixture
reached:

  python3 scripts/reference/torch_zip_more.py   # writes test/fixtures/zip/{negoff,mixed,nopkl,deep,suffix,notensors}.pt

negoff.pt: 'x' [2] stride [1] at storage offset -1 over 4 floats (torch never writes one: damaged).
mixed.pt: a dict holding, beside the tensor 'w' [2] (1.5, -2.5), values that are no tensors:
  an int, None, a str, a list and a dict (open_clip's state dicts hold none; the reader keeps 'w' only).
nopkl.pt: archive/version and archive/data/0 but no data.pkl.
deep.pt: the whole archive one folder deeper (a/b/data.pkl, a/b/data/0): not torch.save's layout.
suffix.pt: archive/data.pkl.bak in place of archive/data.pkl.
notensors.pt: a dict {'a': 1, 'b': 'x'}.
"""
import collections
import os
import pickle
import struct
import sys
import types
import zipfile

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'zip')

torch = types.ModuleType('torch')
utils = types.ModuleType('torch._utils')
c = type('FloatStorage', (), {})
c.__module__ = 'torch'
torch.FloatStorage = c


def _rebuild_tensor_v2(*args):
    raise RuntimeError('never called here')


_rebuild_tensor_v2.__module__ = 'torch._utils'
utils._rebuild_tensor_v2 = _rebuild_tensor_v2
sys.modules['torch'] = torch
sys.modules['torch._utils'] = utils


class Storage:
    def __init__(self, key, numel):
        self.cls, self.key, self.numel = torch.FloatStorage, str(key), numel


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
    import io
    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


# Fixed timestamps, so the files are the same bytes each time this runs.
def write(name, members):
    with zipfile.ZipFile(os.path.join(OUT, name), 'w') as z:
        for member, data in members:
            z.writestr(zipfile.ZipInfo(member, date_time=(2020, 1, 1, 0, 0, 0)), data)


f32 = lambda xs: struct.pack(f'<{len(xs)}f', *xs)
os.makedirs(OUT, exist_ok=True)
one = lambda prefix, obj, data: [(f'{prefix}data.pkl', dumps(obj)), (f'{prefix}byteorder', b'little'), (f'{prefix}data/0', data), (f'{prefix}version', b'3\n')]
write('negoff.pt', one('archive/', collections.OrderedDict([('x', Tensor(Storage(0, 4), -1, [2], [1]))]), f32([1, 2, 3, 4])))
write('mixed.pt', one('archive/', collections.OrderedDict([
    ('epoch', 3), ('none', None), ('name', 'n'), ('list', [1, 2]), ('dict', {'a': 1}), ('w', Tensor(Storage(0, 2), 0, [2], [1]))]), f32([1.5, -2.5])))
write('nopkl.pt', [('archive/version', b'3\n'), ('archive/data/0', f32([1]))])
write('deep.pt', one('a/b/', collections.OrderedDict([('w', Tensor(Storage(0, 1), 0, [1], [1]))]), f32([1])))
write('suffix.pt', [(m.replace('data.pkl', 'data.pkl.bak'), d) for m, d in one('archive/', collections.OrderedDict([('w', Tensor(Storage(0, 1), 0, [1], [1]))]), f32([1]))])
write('notensors.pt', one('archive/', {'a': 1, 'b': 'x'}, b''))

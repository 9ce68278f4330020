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
import struct
import zipfile

from torch_stand_ins import Storage, Tensor, dumps

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'zip')

# Fixed timestamps, so the files are the same bytes each time this runs.
def write(name, members):
    with zipfile.ZipFile(os.path.join(OUT, name), 'w') as z:
        for member, data in members:
            z.writestr(zipfile.ZipInfo(member, date_time=(2020, 1, 1, 0, 0, 0)), data)


f32 = lambda xs: struct.pack(f'<{len(xs)}f', *xs)
os.makedirs(OUT, exist_ok=True)
one = lambda prefix, obj, data: [(f'{prefix}data.pkl', dumps(obj)), (f'{prefix}byteorder', b'little'), (f'{prefix}data/0', data), (f'{prefix}version', b'3\n')]
write('negoff.pt', one('archive/', collections.OrderedDict([('x', Tensor(Storage('FloatStorage', 0, 4), -1, [2], [1]))]), f32([1, 2, 3, 4])))
write('mixed.pt', one('archive/', collections.OrderedDict([
    ('epoch', 3), ('none', None), ('name', 'n'), ('list', [1, 2]), ('dict', {'a': 1}), ('w', Tensor(Storage('FloatStorage', 0, 2), 0, [2], [1]))]), f32([1.5, -2.5])))
write('nopkl.pt', [('archive/version', b'3\n'), ('archive/data/0', f32([1]))])
write('deep.pt', one('a/b/', collections.OrderedDict([('w', Tensor(Storage('FloatStorage', 0, 1), 0, [1], [1]))]), f32([1])))
write('suffix.pt', [(m.replace('data.pkl', 'data.pkl.bak'), d) for m, d in one('archive/', collections.OrderedDict([('w', Tensor(Storage('FloatStorage', 0, 1), 0, [1], [1]))]), f32([1]))])
write('notensors.pt', one('archive/', {'a': 1, 'b': 'x'}, b''))

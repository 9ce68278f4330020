"""State dicts in torch.save's zip layout, written without torch (stdlib only) for
test/unit/mutation/interop.test.ts: Python's own pickle and zipfile write them, with stand-ins
for the few torch callables a state dict names (torch._utils._rebuild_tensor_v2 and the storage
classes), so src/interop/state-dict.ts is checked against another implementation's bytes.

  python3 scripts/reference/torch_zip_fixtures.py   # writes test/fixtures/zip/*.pt, *.safetensors

views.pt ('archive/'): over one storage of 12 floats 0, 1, ..., 11 (FloatStorage, key 0):
  t      [3, 4] stride [4, 1] offset 0   (contiguous)
  tt     [4, 3] stride [1, 4] offset 0   (t transposed)
  row    [4]    stride [1]    offset 8   (t[2])
  col    [3]    stride [4]    offset 1   (t[:, 1])
  one    [1, 3] stride [1, 1] offset 4   (a size-1 dim with any stride: still contiguous)
  half   [2, 2] HalfStorage key 1, stride [1, 2] (transposed): f16 bits of 1, -2, 0.5, 65504,
         stored in that order, so the rows read 1, 0.5 / -2, 65504
  small  [3] HalfStorage key 2: the subnormal 2^-24, -0 and -inf
  bf     [3] BFloat16Storage key 3: bf16 bits of 1.5, -3, 2^-130 (a bfloat16 subnormal)
  dbl    [2] DoubleStorage key 4: 0.1, 1e300 (float32: 0.1f and +inf)
  empty  [0, 5] FloatStorage key 5 with 0 elements
past.pt: 'x' [2, 3] stride [3, 1] offset 1 over a storage of 6 floats (reaches element 6).
short.pt: 'x' [4] over a storage said to hold 4 floats whose entry has 12 bytes.
long.pt: 'x' [2] of a LongStorage.
big.pt: views.pt's 't' with byteorder 'big'. list.pt: the list [1, 2] instead of a dict.
halves.safetensors: F16 'h' [4] (1, -2, 2^-24, -inf) and BF16 'b' [2] (1.5, -3); ints.safetensors: I64 'i' [2].
"""
import collections
import json
import os
import pickle
import struct
import zipfile

from torch_stand_ins import Storage, Tensor, dumps

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'zip')

def save(name, tensors, storages, byteorder=b'little'):
    with zipfile.ZipFile(os.path.join(OUT, name), 'w') as z:
        z.writestr('archive/data.pkl', dumps(collections.OrderedDict(tensors)))
        z.writestr('archive/byteorder', byteorder)
        for key, data in storages.items():
            z.writestr(f'archive/data/{key}', data)
        z.writestr('archive/version', b'3\n')


f32 = lambda xs: struct.pack(f'<{len(xs)}f', *xs)
f16 = lambda xs: struct.pack(f'<{len(xs)}e', *xs)
bf16 = lambda xs: b''.join(struct.pack('<f', x)[2:] for x in xs)  # the high half of float32

os.makedirs(OUT, exist_ok=True)
S0 = Storage('FloatStorage', 0, 12)
views = [
    ('t', Tensor(S0, 0, [3, 4], [4, 1])),
    ('tt', Tensor(S0, 0, [4, 3], [1, 4])),
    ('row', Tensor(S0, 8, [4], [1])),
    ('col', Tensor(S0, 1, [3], [4])),
    ('one', Tensor(S0, 4, [1, 3], [1, 1])),
    ('half', Tensor(Storage('HalfStorage', 1, 4), 0, [2, 2], [1, 2])),
    ('small', Tensor(Storage('HalfStorage', 2, 3), 0, [3], [1])),
    ('bf', Tensor(Storage('BFloat16Storage', 3, 3), 0, [3], [1])),
    ('dbl', Tensor(Storage('DoubleStorage', 4, 2), 0, [2], [1])),
    ('empty', Tensor(Storage('FloatStorage', 5, 0), 0, [0, 5], [5, 1])),
]
data = {
    0: f32(range(12)),
    1: f16([1, -2, 0.5, 65504]),
    2: f16([2 ** -24, -0.0, float('-inf')]),
    3: bf16([1.5, -3, 2 ** -130]),
    4: struct.pack('<2d', 0.1, 1e300),
    5: b'',
}
save('views.pt', views, data)
save('past.pt', [('x', Tensor(Storage('FloatStorage', 0, 6), 1, [2, 3], [3, 1]))], {0: f32(range(6))})
save('short.pt', [('x', Tensor(Storage('FloatStorage', 0, 4), 0, [4], [1]))], {0: f32(range(3))})
save('long.pt', [('x', Tensor(Storage('LongStorage', 0, 2), 0, [2], [1]))], {0: struct.pack('<2q', 1, 2)})
save('big.pt', views[:1], {0: data[0]}, byteorder=b'big')
with zipfile.ZipFile(os.path.join(OUT, 'list.pt'), 'w') as z:
    z.writestr('archive/data.pkl', pickle.dumps([1, 2], protocol=2))


def safetensors(name, tensors):
    header, blobs, at = {}, [], 0
    for key, dtype, shape, blob in tensors:
        header[key] = {'dtype': dtype, 'shape': shape, 'data_offsets': [at, at + len(blob)]}
        blobs.append(blob)
        at += len(blob)
    h = json.dumps(header).encode()
    with open(os.path.join(OUT, name), 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


safetensors('halves.safetensors', [('h', 'F16', [4], f16([1, -2, 2 ** -24, float('-inf')])), ('b', 'BF16', [2], bf16([1.5, -3]))])
safetensors('ints.safetensors', [('i', 'I64', [2], struct.pack('<2q', 1, 2))])

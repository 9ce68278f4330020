// Token ids as the layers above src/tensor see them: uploaded once per batch, shared by the
// embedding lookup and the cross-entropy targets, released by the caller. The kernels own the
// format (kernels/embedding.ts); this is the tensor layer's name for it, so that model, nn and
// train never import kernels/ themselves.
export { releaseTokenIds, uploadTokenIds, type DeviceTokenIds, type TokenIds, type TokenIdsOptions } from '../../kernels/embedding.ts';
/** The caption target that counts for nothing (torch's ignore_index): padding after the end token. */
export { IGNORE_INDEX } from '../../kernels/crossentropy.ts';

/*
 * Ultralytics .pt checkpoints (torch.save zip format) read without Python:
 * zip => <archive>/data.pkl through the restricted pickle reader => the
 * nn.Module tree walked into state_dict names; tensors from
 * <archive>/data/<key> storages, every size and offset checked.
 */
#ifndef AF_IO_PT_READER_H
#define AF_IO_PT_READER_H

#include <stddef.h>

#include "model/checkpoint.h"

#define AF_PT_MAX_PICKLE ((size_t)256 << 20)
#define AF_PT_MAX_TENSOR_BYTES ((size_t)4 << 30) /* all tensors together */
#define AF_PT_MAX_TENSORS 100000

/* Fills ck (which is zeroed first; freed again on failure). Uses 'ema' when it
 * is set, else 'model', as ultralytics does. */
af_status af_pt_read_memory(const void *buf, size_t len, const char *name, af_checkpoint *ck,
                            af_error *err);

#endif

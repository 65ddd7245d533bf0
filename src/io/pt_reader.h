/*
 * torch.save files (zip format) read without Python: zip => <archive>/data.pkl
 * through the restricted pickle reader into a value tree; tensors from
 * <archive>/data/<key> storages, every size and offset checked. What the tree
 * means (which module holds the weights, class names, ...) is the caller's
 * business (model/checkpoint.c for ultralytics checkpoints).
 */
#ifndef AF_IO_PT_READER_H
#define AF_IO_PT_READER_H

#include <stddef.h>

#include "core/tensor.h"
#include "io/pickle.h"

#define AF_PT_MAX_PICKLE ((size_t)256 << 20)
#define AF_PT_MAX_TENSOR_BYTES ((size_t)4 << 30) /* all tensors together */
#define AF_PT_MAX_TENSORS 100000

typedef struct af_pt_file af_pt_file;

/* Opens a torch zip held in buf (which must outlive the handle) and reads its
 * pickle. name is used in messages. */
af_status af_pt_open_memory(const void *buf, size_t len, const char *name, af_pt_file **out,
                            af_error *err);
void af_pt_close(af_pt_file *f);

/* The unpickled object (a dict for ultralytics checkpoints). */
const af_pk_value *af_pt_root(const af_pt_file *f);

/* Called for every module the walk reaches, with its state-dict prefix
 * ("model.0.bn" without the dot; "" for the root) and its state dict. */
typedef af_status (*af_pt_module_cb)(void *user, const char *prefix, const af_pk_value *state,
                                     af_error *err);

/* Appends the state dict of an nn.Module record to out, named as torch's
 * state_dict() names them ("model.0.conv.weight"; num_batches_tracked and
 * non-persistent buffers left out), in that order; a name that appears twice
 * fails. cb (may be NULL) sees each module. */
af_status af_pt_module_tensors(af_pt_file *f, const af_pk_value *module, af_tensor_list *out,
                               af_pt_module_cb cb, void *user, af_error *err);

/* One tensor record (_rebuild_tensor_v2, possibly in _rebuild_parameter) as a
 * contiguous tensor: out->data is owned by the caller (free()), out->name is
 * NULL. what names it in messages. */
af_status af_pt_tensor(af_pt_file *f, const af_pk_value *rec, const char *what, af_tensor *out,
                       af_error *err);

#endif

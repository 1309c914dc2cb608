#include "kernels/cuda/attention.h"

#include <vector>

#include "kernels/cuda/latent_attention.h"

namespace lrkv::cuda {
namespace {

// Per-head segment tables that the latent form reads (kept alive for the call).
struct DenseAsLatent {
  std::vector<int> q_off, kv_off, len;
  LatentAttentionBatch lb;
};

Status as_latent(const AttentionBatch& b, DenseAsLatent& d) {
  const AttentionParams& p = b.p;
  if (p.n_head < 1 || p.n_kv_head < 1 || p.n_head % p.n_kv_head != 0 || p.head_dim < 1) {
    return make_error(ErrorCode::kInvalidArgument, "CUDA attention: {} heads, {} kv heads, head_dim {}", p.n_head,
                      p.n_kv_head, p.head_dim);
  }
  const int group = p.n_head / p.n_kv_head;
  d.q_off.resize(p.n_head);
  d.kv_off.resize(p.n_head);
  d.len.assign(p.n_head, p.head_dim);
  for (int h = 0; h < p.n_head; ++h) {
    d.q_off[h] = h * p.head_dim;
    d.kv_off[h] = (h / group) * p.head_dim;
  }
  LatentAttentionParams& l = d.lb.p;
  l.n_q = p.n_q;
  l.q_pos = p.q_pos;
  l.n_head = p.n_head;
  l.qk = p.q;
  l.ldqk = p.ldq;
  l.qk_off = d.q_off.data();
  l.k = p.k;
  l.ldk = p.ldkv;
  l.k_type = p.kv_type;
  l.k_off = d.kv_off.data();
  l.k_len = d.len.data();
  l.v = p.v;
  l.ldv = p.ldkv;
  l.v_type = p.kv_type;
  l.v_off = d.kv_off.data();
  l.v_len = d.len.data();
  l.z = p.out;
  l.ldz = p.ldo;
  l.z_off = d.q_off.data();
  l.scale = p.scale;
  d.lb.n_seq = b.n_seq;
  d.lb.qk_seq = b.q_seq;
  d.lb.k_seq = d.lb.v_seq = b.kv_seq;
  d.lb.z_seq = b.out_seq;
  d.lb.max_kv = b.max_kv;
  d.lb.workspace = b.workspace;
  d.lb.workspace_bytes = b.workspace_bytes;
  d.lb.kernel = b.kernel;
  return Status::Ok();
}

}  // namespace

Result<size_t> attention_workspace_bytes(const AttentionBatch& b) {
  DenseAsLatent d;
  LRKV_RETURN_IF_ERROR(as_latent(b, d));
  return latent_attention_workspace_bytes(d.lb);
}

Status attention(const AttentionBatch& b, cudaStream_t stream) {
  DenseAsLatent d;
  LRKV_RETURN_IF_ERROR(as_latent(b, d));
  return latent_attention(d.lb, stream);
}

}  // namespace lrkv::cuda

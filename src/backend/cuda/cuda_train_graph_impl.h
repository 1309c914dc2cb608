// CudaTrainGraph's device buffers (shared by cuda_train_graph.cpp and cuda_train_attention.cpp).
// Every buffer grows to the largest batch seen and is reused.
#pragma once

#include <vector>

#include "backend/cuda/cuda_train_graph.h"

namespace lrkv::cuda {

struct CudaTrainGraph::Impl {
  struct Layer {                  // activations of one layer (train_forward.h LayerActs)
    DeviceBuffer x, rstd1, h1;    // [T, d], [T], [T, d]
    DeviceBuffer q, k, v;         // [T, q_dim], [T, kv_dim] x2 (post-RoPE q, k)
    DeviceBuffer qa, ka, va, za;  // padded projected space (projections only)
    DeviceBuffer att;             // [T, q_dim]
    DeviceBuffer xm, rstd2, h2;   // [T, d], [T], [T, d]
    DeviceBuffer gate, up;        // [T, d_ff]
  };
  std::vector<Layer> layers;                          // [n_layer], or [1] without backward
  DeviceBuffer x, rstdf, hf, logits;                  // running residual, final norm, [T, V]
  DeviceBuffer tokens, pos, inv_freq;                 // int [T], int [T], [head_dim/2]
  DeviceBuffer scores, dscores, rowdots;              // [n_head, n, n] x2, [n_head, n]
  DeviceBuffer centred;                               // [T, kv_dim] (k or v minus its mean)
  DeviceBuffer dx, dh, dq, dk, dv, datt, dff, dff2;   // backward scratch
  DeviceBuffer dqa, dka, dva, dza;                    // projected-space gradients
  DeviceBuffer gw;                                    // weight-gradient scratch
  DeviceBuffer targets, klmask, ce, kl;               // loss rows
  // Projections, all layers: U with columns >= rank zeroed, [n_layer, n_kv_head, hd, hd];
  // means [n_layer, kv_dim]; mu_V repeated per query head [n_layer, q_dim].
  DeviceBuffer u_k, u_v, mu_k, mu_v, mu_vq;
  // Their gradients: dU [n_layer, n_kv_head, hd, hd]; dmu_K, dmu_V [n_layer, kv_dim]; the output
  // part of dmu_V per query head [n_layer, q_dim] (summed per group on the host).
  DeviceBuffer du_k, du_v, dmu_k, dmu_v, dmu_vq;

  Layer& layer(int l) { return layers[layers.size() == 1 ? 0 : l]; }
};

}  // namespace lrkv::cuda

// Which dimensions RoPE rotates together inside a head of size d_h:
//  kInterleaved: pairs (2i, 2i+1)      (Meta checkpoints, llama2.c, GGUF "llama")
//  kHalfSplit:   pairs (i, i + d_h/2)  (HF transformers rotate_half, GGUF "qwen2"/NEOX)
// Frequency of pair i is theta^(-2i/d_h) in both layouts.
#pragma once

namespace lrkv {

enum class RopeLayout { kInterleaved, kHalfSplit };

}  // namespace lrkv

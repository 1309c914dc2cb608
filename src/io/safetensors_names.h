// Tensor names of HF transformers Llama/Qwen2 checkpoints <-> lrkv's canonical (GGUF) names:
//   model.embed_tokens.weight                      <-> token_embd.weight
//   model.layers.N.input_layernorm.weight          <-> blk.N.attn_norm.weight
//   model.layers.N.self_attn.{q,k,v,o}_proj.weight <-> blk.N.attn_{q,k,v,output}.weight
//   model.layers.N.self_attn.{q,k,v}_proj.bias     <-> blk.N.attn_{q,k,v}.bias
//   model.layers.N.post_attention_layernorm.weight <-> blk.N.ffn_norm.weight
//   model.layers.N.mlp.{gate,up,down}_proj.weight  <-> blk.N.ffn_{gate,up,down}.weight
//   model.norm.weight                              <-> output_norm.weight
//   lm_head.weight                                 <-> output.weight
#pragma once

#include <string>

namespace lrkv {

// Canonical name of an HF tensor name, or "" when it is not a Llama weight.
std::string hf_to_canonical_name(const std::string& hf);
// HF name of a canonical name, or "" when it is not a Llama weight.
std::string canonical_to_hf_name(const std::string& canonical);
// Buffers HF checkpoints may carry that the engine recomputes (rotary inv_freq): skipped on load.
bool is_ignored_hf_tensor(const std::string& hf);

}  // namespace lrkv

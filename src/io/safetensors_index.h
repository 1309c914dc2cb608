// The weights of an HF checkpoint: one model.safetensors, or shards listed by
// model.safetensors.index.json ({"weight_map": {tensor: shard file}}), gathered into one map.
#pragma once

#include <map>
#include <string>

#include "core/tensor.h"

namespace lrkv {

struct SafetensorsWeights {
  std::string dir;     // directory holding the weights (config.json, tokenizer.json beside)
  std::string source;  // the file or index named in errors
  struct Entry {
    Tensor tensor;     // view into its shard (the view keeps the mapping alive)
    std::string file;  // shard path, for errors
  };
  std::map<std::string, Entry> tensors;         // HF name -> tensor
  std::map<std::string, std::string> metadata;  // "__metadata__" of the (first) file
};

// `path`: a directory (model.safetensors, else model.safetensors.index.json inside it), a
// .safetensors file, or an index .json. Every shard is validated; a weight_map entry whose shard
// lacks the tensor, a shard outside the directory, or a tensor in two shards is an error.
Result<SafetensorsWeights> read_safetensors_weights(const std::string& path);

}  // namespace lrkv

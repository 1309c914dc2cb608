// Parameters of segment_project (segment_project.h), kept free of Status/fmt so the .cu sees
// only this.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"

namespace lrkv::cuda {

constexpr int kSegProjMaxSegments = 128;
constexpr int kSegProjMaxIn = 4096;  // inputs per segment (staged in shared memory)
constexpr int64_t kSegProjMaxRows = int64_t{65535} * 8;  // grid z = row tiles of 8

struct SegmentProjectParams {
  const float* x = nullptr;  // [rows, ldx]
  int64_t ldx = 0;
  int64_t rows = 0;
  float* y = nullptr;        // [rows, ldy]; written, not accumulated
  int64_t ldy = 0;
  DType w_type = DType::kF32;
  int n_seg = 0;
  const void* w[kSegProjMaxSegments] = {};
  int ldw[kSegProjMaxSegments] = {};
  int in_len[kSegProjMaxSegments] = {};
  int out_len[kSegProjMaxSegments] = {};
  int x_off[kSegProjMaxSegments] = {};
  int y_off[kSegProjMaxSegments] = {};
  // Segments with pair[s] = 1 read x2 and write y2 instead (offsets relative to those): two
  // projections of different activations in one launch (key latents from k, query absorption
  // from q).
  const float* x2 = nullptr;  // [rows, ldx2]
  int64_t ldx2 = 0;
  float* y2 = nullptr;        // [rows, ldy2]
  int64_t ldy2 = 0;
  uint8_t pair[kSegProjMaxSegments] = {};
};
static_assert(sizeof(SegmentProjectParams) <= 4000, "kernel parameter limit");

// The launch behind segment_project (segment_project.cu), parameters already checked;
// max_in / max_out = the largest in_len / out_len.
cudaError_t launch_segment_project(const SegmentProjectParams& p, int max_in, int max_out, cudaStream_t stream);

}  // namespace lrkv::cuda

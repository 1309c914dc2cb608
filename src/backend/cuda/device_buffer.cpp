#include "backend/cuda/device_buffer.h"

#include "kernels/cuda/cuda_status.h"

namespace lrkv::cuda {

Result<DeviceBuffer> DeviceBuffer::create(size_t bytes) {
  DeviceBuffer b;
  if (bytes == 0) return b;
  const cudaError_t e = cudaMalloc(&b.ptr_, bytes);
  if (e != cudaSuccess) {
    b.ptr_ = nullptr;
    (void)cudaGetLastError();  // out of memory is not sticky: clear it so later launches do not report it
    if (e == cudaErrorMemoryAllocation) {
      size_t free = 0, total = 0;
      if (cudaMemGetInfo(&free, &total) != cudaSuccess) (void)cudaGetLastError();
      return make_error(ErrorCode::kOutOfMemory, "GPU memory: {:.2f} GB requested, {:.2f} GB free of {:.2f} GB",
                        bytes / 1e9, free / 1e9, total / 1e9);
    }
    return make_error(ErrorCode::kInternal, "cudaMalloc of {} bytes: {}", bytes, cudaGetErrorString(e));
  }
  b.bytes_ = bytes;
  return b;
}

Status DeviceBuffer::upload(const void* src, size_t bytes, size_t offset) {
  if (offset + bytes > bytes_) return make_error(ErrorCode::kInvalidArgument, "upload past the buffer end");
  return cuda_status(cudaMemcpy(static_cast<char*>(ptr_) + offset, src, bytes, cudaMemcpyHostToDevice), "upload");
}

Status DeviceBuffer::download(void* dst, size_t bytes, size_t offset) const {
  if (offset + bytes > bytes_) return make_error(ErrorCode::kInvalidArgument, "download past the buffer end");
  return cuda_status(cudaMemcpy(dst, static_cast<const char*>(ptr_) + offset, bytes, cudaMemcpyDeviceToHost),
                     "download");
}

Status DeviceBuffer::fill_bytes(int value) {
  return cuda_status(cudaMemset(ptr_, value, bytes_), "memset");
}

void DeviceBuffer::reset() {
  if (ptr_) cudaFree(ptr_);
  ptr_ = nullptr;
  bytes_ = 0;
}

bool device_available(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    if (why) *why = e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device";
    cudaGetLastError();  // clear the sticky error of a failed query
    return false;
  }
  return true;
}

}  // namespace lrkv::cuda

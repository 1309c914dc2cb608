#include "eval/plot/png_io.h"

#include <png.h>

#include <cstring>
#include <vector>

#include "core/mmap_file.h"

namespace lrkv::plot {

Status write_png(const Canvas& canvas, const std::string& path) {
  png_image img;
  std::memset(&img, 0, sizeof(img));
  img.version = PNG_IMAGE_VERSION;
  img.width = static_cast<png_uint_32>(canvas.width());
  img.height = static_cast<png_uint_32>(canvas.height());
  img.format = PNG_FORMAT_RGB;
  const png_int_32 stride = canvas.width() * 3;
  png_alloc_size_t size = 0;
  // First call sizes the buffer, second encodes into it.
  if (!png_image_write_to_memory(&img, nullptr, &size, 0, canvas.rgb().data(), stride, nullptr)) {
    const std::string msg = img.message;
    png_image_free(&img);
    return make_error(ErrorCode::kInternal, "{}: PNG encoding failed: {}", path, msg);
  }
  std::string bytes(size, '\0');
  if (!png_image_write_to_memory(&img, bytes.data(), &size, 0, canvas.rgb().data(), stride,
                                 nullptr)) {
    const std::string msg = img.message;
    png_image_free(&img);
    return make_error(ErrorCode::kInternal, "{}: PNG encoding failed: {}", path, msg);
  }
  bytes.resize(size);
  return write_file_atomic(path, bytes);
}

Result<Canvas> read_png(const std::string& path) {
  png_image img;
  std::memset(&img, 0, sizeof(img));
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&img, path.c_str())) {
    const std::string msg = img.message;
    png_image_free(&img);
    return make_error(ErrorCode::kCorruptFile, "{}: not a readable PNG: {}", path, msg);
  }
  if (img.width == 0 || img.height == 0 || img.width > 16384 || img.height > 16384) {
    png_image_free(&img);
    return make_error(ErrorCode::kUnsupported, "{}: PNG of {}x{} pixels is outside 1..16384", path,
                      img.width, img.height);
  }
  img.format = PNG_FORMAT_RGB;
  Canvas cv(static_cast<int>(img.width), static_cast<int>(img.height));
  png_color white{255, 255, 255};
  if (!png_image_finish_read(&img, &white, cv.rgb().data(), 0, nullptr)) {
    const std::string msg = img.message;
    png_image_free(&img);
    return make_error(ErrorCode::kCorruptFile, "{}: PNG decoding failed: {}", path, msg);
  }
  return cv;
}

}  // namespace lrkv::plot

#include "eval/logits_file.h"

#include <cmath>
#include <cstring>

#include "core/dtype.h"
#include "eval/perplexity.h"

namespace lrkv {

namespace {
constexpr char kMagic[8] = {'L', 'R', 'K', 'V', 'L', 'G', 'P', '1'};
constexpr char kEnd[8] = {'L', 'R', 'K', 'V', 'E', 'N', 'D', '1'};
constexpr uint64_t kHeader = 16, kTrailer = 16;
}  // namespace

Result<LogitsWriter> LogitsWriter::create(const std::string& path, int n_vocab) {
  LRKV_ASSIGN_OR_RETURN(AtomicFile f, AtomicFile::create(path));
  LogitsWriter w(std::move(f), n_vocab);
  const uint32_t head[2] = {static_cast<uint32_t>(n_vocab), 0};
  LRKV_RETURN_IF_ERROR(w.file_.write(kMagic, 8));
  LRKV_RETURN_IF_ERROR(w.file_.write(head, 8));
  return w;
}

Status LogitsWriter::add(int64_t index, int id, const float* logits) {
  lp_.resize(n_vocab_);
  half_.resize(n_vocab_);
  log_softmax(logits, n_vocab_, lp_.data());
  convert_f32_to_f16(lp_.data(), half_.data(), n_vocab_);
  const uint64_t idx = static_cast<uint64_t>(index);
  const uint32_t tid = static_cast<uint32_t>(id);
  LRKV_RETURN_IF_ERROR(file_.write(&idx, 8));
  LRKV_RETURN_IF_ERROR(file_.write(&tid, 4));
  LRKV_RETURN_IF_ERROR(file_.write(half_.data(), half_.size() * 2));
  ++rows_;
  return Status::Ok();
}

Status LogitsWriter::finish() {
  LRKV_RETURN_IF_ERROR(file_.write(&rows_, 8));
  LRKV_RETURN_IF_ERROR(file_.write(kEnd, 8));
  return file_.commit();
}

Result<LogitsReader> LogitsReader::open(const std::string& path) {
  LogitsReader r;
  LRKV_ASSIGN_OR_RETURN(r.file_, MappedFile::open(path));
  const uint8_t* p = r.file_->data();
  const uint64_t size = r.file_->size();
  if (size < kHeader + kTrailer || std::memcmp(p, kMagic, 8) != 0) {
    return make_error(ErrorCode::kCorruptFile, "{}: not an lrkv logits file (expected magic "
                      "'LRKVLGP1' and at least {} bytes)", path, kHeader + kTrailer);
  }
  uint32_t nv;
  std::memcpy(&nv, p + 8, 4);
  std::memcpy(&r.n_rows_, p + size - kTrailer, 8);
  if (std::memcmp(p + size - 8, kEnd, 8) != 0) {
    return make_error(ErrorCode::kCorruptFile, "{}: truncated logits file (no end marker)", path);
  }
  r.path_ = path;
  if (nv == 0 || nv > (1u << 24)) {
    return make_error(ErrorCode::kCorruptFile, "{}: vocabulary {} outside [1, 2^24]", path, nv);
  }
  r.n_vocab_ = static_cast<int>(nv);
  r.row_bytes_ = 12 + 2 * uint64_t{nv};
  if (r.n_rows_ > size / r.row_bytes_ || kHeader + r.n_rows_ * r.row_bytes_ + kTrailer != size) {
    return make_error(ErrorCode::kCorruptFile, "{}: size {} does not match {} rows of vocabulary {}",
                      path, size, r.n_rows_, nv);
  }
  LRKV_RETURN_IF_ERROR(r.check_rows(path));
  return r;
}

// One pass over the rows: targets inside the vocabulary, log-probs not NaN or +Inf (-Inf is a
// probability that underflowed f16 and is kept).
Status LogitsReader::check_rows(const std::string& path) const {
  for (uint64_t row = 0; row < n_rows_; ++row) {
    const int t = target(row);
    if (t < 0 || t >= n_vocab_) {
      return make_error(ErrorCode::kCorruptFile, "{}: row {} has target {}, expected 0..{}", path,
                        row, t, n_vocab_ - 1);
    }
    const uint8_t* src = file_->data() + kHeader + row * row_bytes_ + 12;
    for (int i = 0; i < n_vocab_; ++i) {
      uint16_t h;
      std::memcpy(&h, src + 2 * i, 2);
      if ((h & 0x7fffu) > 0x7c00u || h == 0x7c00u) {
        return make_error(ErrorCode::kCorruptFile,
                          "{}: row {} token {} has a {} log-probability; expected finite or -inf",
                          path, row, i, h == 0x7c00u ? "+inf" : "nan");
      }
    }
  }
  return Status::Ok();
}

uint64_t LogitsReader::index(uint64_t row) const {
  uint64_t v;
  std::memcpy(&v, file_->data() + kHeader + row * row_bytes_, 8);
  return v;
}

int LogitsReader::target(uint64_t row) const {
  uint32_t v;
  std::memcpy(&v, file_->data() + kHeader + row * row_bytes_ + 8, 4);
  return static_cast<int>(v);
}

Status LogitsReader::log_probs(uint64_t row, float* out) const {
  const uint8_t* src = file_->data() + kHeader + row * row_bytes_ + 12;
  std::vector<uint16_t> h(n_vocab_);
  std::memcpy(h.data(), src, h.size() * 2);
  convert_f16_to_f32(h.data(), out, n_vocab_);
  for (int i = 0; i < n_vocab_; ++i) {
    if (std::isnan(out[i]) || out[i] > 0.0f) {  // log-probabilities are <= 0 (-inf: probability 0)
      return make_error(ErrorCode::kCorruptFile,
                        "{}: row {} (token index {}) has log-probability {} for token {}; expected a "
                        "number <= 0", path_, row, index(row), out[i], i);
    }
  }
  return Status::Ok();
}

}  // namespace lrkv

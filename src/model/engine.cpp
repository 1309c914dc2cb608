#include "model/engine.h"

namespace lrkv {

Status Engine::forward_sample(const std::vector<SeqSpan>& spans, KvCache& cache, std::vector<Sampler>& samplers,
                              std::vector<int>* next) {
  if (samplers.size() != spans.size()) {
    return make_error(ErrorCode::kInvalidArgument, "forward_sample: {} samplers for {} spans", samplers.size(),
                      spans.size());
  }
  std::vector<float> logits;
  LRKV_RETURN_IF_ERROR(forward(spans, cache, LogitsMode::kLast, &logits));
  const int V = config().n_vocab;
  next->resize(spans.size());
  for (size_t i = 0; i < spans.size(); ++i) (*next)[i] = samplers[i].sample(logits.data() + i * V, V);
  return Status::Ok();
}

Status reserve_span_rows(const std::vector<SeqSpan>& spans, KvCache& cache) {
  if (!cache.pages()) return Status::Ok();
  for (size_t i = 0; i < spans.size(); ++i) {
    const SeqSpan& s = spans[i];
    Status st = cache.reserve(s.seq, cache.length(s.seq) + s.n);
    if (!st.ok()) {  // all or none: give back what this call mapped
      for (size_t j = 0; j < i; ++j) cache.truncate(spans[j].seq, cache.length(spans[j].seq));
      return st;
    }
  }
  return Status::Ok();
}

}  // namespace lrkv

#include "compress/tune/gqa_task.h"

#include <fmt/format.h>

namespace lrkv {

GqaRecoveryTask::GqaRecoveryTask(std::unique_ptr<TrainGraph> fwd, std::vector<Slot> slots, int n_kv_head)
    : fwd_(std::move(fwd)), slots_(std::move(slots)), n_kv_head_(n_kv_head) {}

Result<std::unique_ptr<GqaRecoveryTask>> GqaRecoveryTask::create(Model* merged,
                                                                 const TrainGraphFactory& graphs) {
  if (merged->compressed()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "recovery tuning needs a plain (uncompressed) model");
  }
  std::vector<Slot> slots;
  for (int l = 0; l < merged->config.n_layer; ++l) {
    LayerWeights& w = merged->weights.layers[l];
    const std::pair<Tensor*, char> items[] = {{&w.wq, 'q'}, {&w.wk, 'k'}, {&w.wv, 'v'},
                                              {&w.wo, 'o'}, {&w.bq, 'Q'}, {&w.bk, 'K'},
                                              {&w.bv, 'V'}};
    for (auto [t, which] : items) {
      if (t->empty()) continue;
      const std::string name = t->name().empty() ? fmt::format("blk.{}.{}", l, which) : t->name();
      LRKV_ASSIGN_OR_RETURN(Tensor copy, t->to(DType::kF32));  // private storage
      copy.set_name(name);
      *t = std::move(copy);
      slots.push_back(
          {name, t, std::vector<float>(static_cast<size_t>(t->numel()), 0.0f), l, which});
    }
  }
  LRKV_ASSIGN_OR_RETURN(std::unique_ptr<TrainGraph> fwd, graphs(*merged));  // reads the copies
  return std::unique_ptr<GqaRecoveryTask>(
      new GqaRecoveryTask(std::move(fwd), std::move(slots), merged->config.n_kv_head));
}

std::vector<ParamRef> GqaRecoveryTask::params() {
  std::vector<ParamRef> out;
  for (Slot& s : slots_) out.push_back({s.name, s.weight->f32(), s.grad.data(), s.weight->numel()});
  return out;
}

Status GqaRecoveryTask::collect_gradients(const Gradients& grads) {
  for (Slot& s : slots_) {
    const LayerGradients& g = grads.layers[s.layer];
    const std::vector<float>* src = nullptr;
    switch (s.which) {
      case 'q':
        src = &g.wq;
        break;
      case 'k':
        src = &g.wk;
        break;
      case 'v':
        src = &g.wv;
        break;
      case 'o':
        src = &g.wo;
        break;
      case 'Q':
        src = &g.bq;
        break;
      case 'K':
        src = &g.bk;
        break;
      default:
        src = &g.bv;
        break;
    }
    if (src->size() != s.grad.size()) {
      return make_error(ErrorCode::kInternal,
                        "recovery tuning: gradient of {} has {} values, expected {}", s.name,
                        src->size(), s.grad.size());
    }
    std::copy(src->begin(), src->end(), s.grad.begin());
  }
  return Status::Ok();
}

Status GqaRecoveryTask::after_update() {
  for (const Slot& s : slots_) LRKV_RETURN_IF_ERROR(fwd_->weights_changed(s.layer, s.which));
  return Status::Ok();
}

void GqaRecoveryTask::save_extra(Checkpoint* c) const {
  c->metadata["lrkv.tune.n_kv_head"] = std::to_string(n_kv_head_);
}

Status GqaRecoveryTask::load_extra(const Checkpoint& c) {
  LRKV_ASSIGN_OR_RETURN(int64_t n, c.meta_int("lrkv.tune.n_kv_head"));
  if (n != n_kv_head_) {
    return make_error(ErrorCode::kInvalidArgument,
                      "checkpoint was tuned with {} KV heads, this merge has {}", n, n_kv_head_);
  }
  return Status::Ok();
}

}  // namespace lrkv

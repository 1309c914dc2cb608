// lrkv convert IN -o OUT.gguf|OUT.safetensors: moves a model between file formats.
#include "cli_common.h"
#include "io/model_io.h"
#include "commands.h"
#include "core/log.h"

namespace lrkv::cli {

namespace {

struct ConvertArgs {
  ModelArgs model;
  std::string out;
};

Status run_convert(const ConvertArgs& a) {
  LRKV_ASSIGN_OR_RETURN(Model m, a.model.load());
  if (!m.tokenizer) log_warn("{}: no tokenizer found; the output will have none", a.model.path);
  LRKV_RETURN_IF_ERROR(save_model(m, a.out));
  log_info("wrote {}", a.out);
  return Status::Ok();
}

}  // namespace

void register_convert(CLI::App& app) {
  auto a = std::make_shared<ConvertArgs>();
  CLI::App* cmd = app.add_subcommand(
      "convert", "Convert a model to GGUF (.gguf) or HF safetensors (.safetensors + config.json + "
                 "tokenizer.json beside it); --dtype sets the matrices' dtype in the output");
  a->model.add_to(cmd);
  cmd->add_option("-o,--output", a->out, "Output file (.gguf or .safetensors)")->required();
  cmd->callback([a] { finish(run_convert(*a)); });
}

}  // namespace lrkv::cli

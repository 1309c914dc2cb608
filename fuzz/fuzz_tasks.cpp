// Zero-shot task readers (every layout, plain or bzip2) on arbitrary bytes. The first byte picks
// the layout (auto or one named), the rest is the file; "\n--\n" separates a labels file.
#include "eval/tasks/task_readers.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* kLayouts[] = {"auto", "arc", "piqa", "winogrande", "boolq", "hellaswag-txt",
                                   "generic"};
  lrkv::TaskReadOptions o;
  o.layout = kLayouts[data[0] % 7];
  auto [body, labels] = lrkv::fuzz::split_input(data + 1, size - 1);
  const bool txt = o.layout == "hellaswag-txt";
  const std::string path = lrkv::fuzz::write_input(
      txt ? "task.txt" : "task.jsonl", reinterpret_cast<const uint8_t*>(body.data()), body.size());
  if (!labels.empty()) {
    o.labels_path = lrkv::fuzz::write_input(
        "labels.lst", reinterpret_cast<const uint8_t*>(labels.data()), labels.size());
  }
  (void)lrkv::read_task_file(path, o);
  return 0;
}

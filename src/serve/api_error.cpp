#include "serve/api_error.h"

#include <nlohmann/json.hpp>

namespace lrkv::serve {

std::string ApiError::to_json() const {
  nlohmann::json e = {{"message", message}, {"type", type}};
  e["param"] = param.empty() ? nlohmann::json(nullptr) : nlohmann::json(param);
  e["code"] = code.empty() ? nlohmann::json(nullptr) : nlohmann::json(code);
  // Replace, not throw, should a message ever carry bytes from a malformed request.
  return nlohmann::json{{"error", e}}.dump(-1, ' ', false,
                                           nlohmann::json::error_handler_t::replace);
}

}  // namespace lrkv::serve

#include "relay/http_api.hpp"

namespace ferry::relay {

const std::string* HttpRequest::Header(std::string_view name) const {
  for (const auto& [field, value] : headers) {
    if (field == name) {
      return &value;
    }
  }
  return nullptr;
}

}  // namespace ferry::relay

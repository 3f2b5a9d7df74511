#pragma once

// Network names as Ferry accepts them in certificates and URLs.

#include <string_view>

namespace ferry::net {

// True for a DNS host name: at most 253 bytes of dot-separated labels, each 1 to 63 ASCII
// letters, digits and inner hyphens. No trailing dot, no wildcard, no underscore.
bool IsDnsName(std::string_view name);

}  // namespace ferry::net

// TagFilter parsing and matching (see rpcnet/cluster/tag_filter.h).
#include "rpcnet/cluster/tag_filter.h"

#include <algorithm>
#include <utility>

namespace rpcnet::cluster {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

// Quotes untrusted text for an error message, bounded so a huge input cannot bloat the error.
std::string quoted(std::string_view s) {
  constexpr std::size_t kShown = 64;
  std::string out = "'";
  out.append(s.substr(0, kShown));
  if (s.size() > kShown) out += "...";
  out += "'";
  return out;
}

RpcError bad(std::string_view term, std::string_view why) {
  return RpcError::config("tag filter term " + quoted(term) + ": " + std::string(why));
}

}  // namespace

Result<TagFilter> TagFilter::parse(std::string_view text) {
  TagFilter filter;
  if (trim(text).empty()) return filter;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    const std::string_view raw =
        text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    const std::string_view term = trim(raw);
    if (term.empty()) return RpcError::config("tag filter has an empty term (stray ',')");
    if (filter.terms_.size() == kMaxTagFilterTerms) {
      return RpcError::config("tag filter has more than " + std::to_string(kMaxTagFilterTerms) + " terms");
    }
    Term parsed;
    const std::size_t eq = term.find('=');
    const std::string_view key = trim(term.substr(0, eq));
    if (key.empty()) return bad(term, "empty key");
    if (key.size() > kMaxTagBytes) return bad(term, "key longer than 256 bytes");
    parsed.key = std::string(key);
    if (eq != std::string_view::npos) {
      const std::string_view value = trim(term.substr(eq + 1));
      if (value.find('=') != std::string_view::npos) return bad(term, "more than one '='");
      if (value.size() > kMaxTagBytes) return bad(term, "value longer than 256 bytes");
      parsed.value = std::string(value);
    }
    const auto pos = std::lower_bound(filter.terms_.begin(), filter.terms_.end(), parsed.key,
                                      [](const Term& t, const std::string& k) { return t.key < k; });
    if (pos != filter.terms_.end() && pos->key == parsed.key) return bad(term, "key named twice");
    filter.terms_.insert(pos, std::move(parsed));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return filter;
}

bool TagFilter::matches(const std::map<std::string, std::string>& tags) const {
  for (const Term& term : terms_) {
    const auto it = tags.find(term.key);
    if (it == tags.end()) return false;
    if (term.value && it->second != *term.value) return false;
  }
  return true;
}

std::string TagFilter::to_string() const {
  std::string out;
  for (const Term& term : terms_) {
    if (!out.empty()) out += ',';
    out += term.key;
    if (term.value) {
      out += '=';
      out += *term.value;
    }
  }
  return out;
}

}  // namespace rpcnet::cluster

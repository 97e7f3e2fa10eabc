// rpcnet/cluster/tag_filter.h — which cluster members a caller wants, by their tags.
//
// Contract: a TagFilter is an AND of terms over a member's tag map. A term is either `key`
// (the tag is present, whatever its value) or `key=value` (the tag is present with exactly this
// value). The text form is the terms separated by commas, e.g. "role=worker,gpu"; whitespace
// around terms, keys and values is ignored. An empty (or all-blank) filter matches every member.
// There is no escaping: keys cannot contain ',' or '=', values cannot contain ','.
//
// Filters come from configuration and command lines, so parse() rejects anything ambiguous
// rather than guessing: an empty term ("a,,b", "a,"), an empty key ("=x"), a second '='
// ("a=b=c"), a key named twice ("a,a=1": either redundant or never matching), a key or value
// longer than kMaxTagBytes, or more than kMaxTagFilterTerms terms.
//
// Terms are kept sorted by key, so equal filters compare equal and to_string() is canonical
// (parse(f.to_string()) == f).
//
// Example:
//   #include "rpcnet/cluster/member.h"
//
//   std::vector<rpcnet::cluster::Member> candidates(const std::vector<rpcnet::cluster::Member>& members) {
//     std::vector<rpcnet::cluster::Member> out;
//     auto filter = rpcnet::cluster::TagFilter::parse("role=worker, gpu");
//     if (!filter) return out;  // filter.error() says what is malformed
//     for (const auto& m : members) {
//       if (filter->matches(m.tags)) out.push_back(m);
//     }
//     return out;
//   }
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rpcnet/result.h"

namespace rpcnet::cluster {

// Longest tag key or value a filter may name, in bytes.
inline constexpr std::size_t kMaxTagBytes = 256;
// Most terms a filter may hold (bounds the cost of matches()).
inline constexpr std::size_t kMaxTagFilterTerms = 64;

class TagFilter {
 public:
  struct Term {
    std::string key;
    std::optional<std::string> value;  // nullopt: presence only
    friend bool operator==(const Term&, const Term&) = default;
  };

  // Matches everything.
  TagFilter() = default;

  // Errors: RpcError::config (kInvalidArgument) whose message quotes the offending term; the
  // caller should fix its configuration, retrying cannot help.
  static Result<TagFilter> parse(std::string_view text);

  bool matches(const std::map<std::string, std::string>& tags) const;

  // "gpu,role=worker" (terms sorted by key); "" for the match-everything filter.
  std::string to_string() const;

  const std::vector<Term>& terms() const noexcept { return terms_; }
  bool matches_everything() const noexcept { return terms_.empty(); }

  friend bool operator==(const TagFilter&, const TagFilter&) = default;

 private:
  std::vector<Term> terms_;  // sorted by key, keys unique
};

}  // namespace rpcnet::cluster

// The text exposition parser: one line at a time, each either a sample, a HELP/TYPE line, a
// comment, or an issue that skips the line (see the header for the policy).
#include "metrics/exposition_parser.h"

#include <charconv>
#include <cmath>
#include <limits>

#include "metrics/ascii.h"

namespace rpcnet::metrics {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// One line, consumed left to right. Every read checks the end first, so no input reads past it.
class LineReader {
 public:
  explicit LineReader(std::string_view line) : line_(line) {}

  bool at_end() const { return pos_ >= line_.size(); }
  char peek() const { return at_end() ? '\0' : line_[pos_]; }
  void advance() { ++pos_; }
  void skip_blanks() {
    while (!at_end() && is_blank(line_[pos_])) ++pos_;
  }
  // A metric name (colons allowed) or a label name; empty if none starts here.
  std::string_view name(bool allow_colon) {
    const std::size_t start = pos_;
    if (at_end() || !(is_alpha(line_[pos_]) || (allow_colon && line_[pos_] == ':'))) return {};
    ++pos_;
    while (!at_end() && (is_alpha(line_[pos_]) || is_digit(line_[pos_]) || (allow_colon && line_[pos_] == ':'))) {
      ++pos_;
    }
    return line_.substr(start, pos_ - start);
  }
  // Up to the next blank or the end.
  std::string_view token() {
    const std::size_t start = pos_;
    while (!at_end() && !is_blank(line_[pos_])) ++pos_;
    return line_.substr(start, pos_ - start);
  }
  std::string_view rest() {
    const std::string_view out = line_.substr(pos_);
    pos_ = line_.size();
    return out;
  }

 private:
  std::string_view line_;
  std::size_t pos_ = 0;
};

// Undoes the format's escapes; `quote_allowed` adds \" (label values) to \\ and \n (all text).
// False on any other escape or a trailing backslash.
bool unescape(std::string_view text, bool quote_allowed, std::string& out) {
  out.clear();
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out += text[i];
      continue;
    }
    if (++i == text.size()) return false;
    if (text[i] == '\\') {
      out += '\\';
    } else if (text[i] == 'n') {
      out += '\n';
    } else if (text[i] == '"' && quote_allowed) {
      out += '"';
    } else {
      return false;
    }
  }
  return true;
}

// A quoted label value, the reader on its opening quote. Empty string on success, else why not.
std::string read_label_value(LineReader& reader, std::string& value) {
  if (reader.peek() != '"') return "expected '\"' to open a label value";
  reader.advance();
  std::string raw;
  for (;;) {
    if (reader.at_end()) return "unterminated label value";
    const char c = reader.peek();
    reader.advance();
    if (c == '"') break;
    raw += c;
    if (c == '\\') {
      if (reader.at_end()) return "unterminated label value";
      raw += reader.peek();
      reader.advance();
    }
  }
  if (!unescape(raw, true, value)) return "invalid escape in a label value (only \\\\, \\\" and \\n)";
  return {};
}

std::string read_labels(LineReader& reader, MetricLabels& labels, std::size_t max_labels) {
  reader.advance();  // '{'
  for (;;) {
    reader.skip_blanks();
    if (reader.peek() == '}') {
      reader.advance();
      return {};
    }
    const std::string_view label = reader.name(false);
    if (label.empty()) return "expected a label name or '}'";
    reader.skip_blanks();
    if (reader.peek() != '=') return "expected '=' after label name";
    reader.advance();
    reader.skip_blanks();
    std::string value;
    if (std::string why = read_label_value(reader, value); !why.empty()) return why;
    for (const auto& [existing, unused] : labels) {
      if (existing == label) return "duplicate label \"" + std::string(label) + "\"";
    }
    if (labels.size() == max_labels) return "more than " + std::to_string(max_labels) + " labels";
    labels.emplace_back(std::string(label), std::move(value));
    reader.skip_blanks();
    if (reader.peek() == ',') {
      reader.advance();
    } else if (reader.peek() != '}') {
      return "expected ',' or '}' after a label value";
    }
  }
}

std::optional<std::int64_t> parse_timestamp(std::string_view token) {
  if (!token.empty() && token.front() == '+') token.remove_prefix(1);
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(token.data(), token.data() + token.size(), value);
  if (token.empty() || error != std::errc() || end != token.data() + token.size()) return std::nullopt;
  return value;
}

constexpr std::string_view kTypes[] = {"counter", "gauge", "histogram", "summary", "untyped"};

struct LineParser {
  const ExpositionLimits& limits;
  ParsedExposition& out;
  std::size_t entries = 0;  // samples + HELP + TYPE, against max_samples

  bool over_limit() const { return entries > limits.max_samples; }

  // Empty on success (or a comment), else why the line is skipped.
  std::string parse(std::string_view line) {
    LineReader reader(line);
    reader.skip_blanks();
    if (reader.at_end()) return {};
    if (reader.peek() == '#') {
      reader.advance();
      return parse_comment(reader);
    }
    return parse_sample(reader);
  }

  std::string parse_comment(LineReader& reader) {
    reader.skip_blanks();
    const std::string_view keyword = reader.token();
    if (keyword != "HELP" && keyword != "TYPE") return {};  // a plain comment
    reader.skip_blanks();
    const std::string_view name = reader.name(true);
    if (name.empty()) return "expected a metric name after # " + std::string(keyword);
    if (!reader.at_end() && !is_blank(reader.peek())) return "invalid character in the metric name";
    reader.skip_blanks();
    auto& table = keyword == "HELP" ? out.help : out.types;
    if (table.contains(std::string(name))) return "second # " + std::string(keyword) + " for " + std::string(name);
    std::string text;
    if (keyword == "HELP") {
      if (!unescape(reader.rest(), false, text)) return "invalid escape in HELP text (only \\\\ and \\n)";
    } else {
      const std::string_view type = reader.token();
      reader.skip_blanks();
      bool known = false;
      for (std::string_view candidate : kTypes) known = known || candidate == type;
      if (!known) return "unknown metric type \"" + std::string(type.substr(0, 32)) + "\"";
      if (!reader.at_end()) return "unexpected text after the metric type";
      text = type;
    }
    ++entries;
    if (over_limit()) return {};
    table.emplace(std::string(name), std::move(text));
    return {};
  }

  std::string parse_sample(LineReader& reader) {
    ParsedSample sample;
    const std::string_view name = reader.name(true);
    if (name.empty()) return "expected a metric name";
    sample.name = name;
    if (!reader.at_end() && !is_blank(reader.peek()) && reader.peek() != '{') {
      return "invalid character in the metric name";
    }
    reader.skip_blanks();
    if (reader.peek() == '{') {
      if (std::string why = read_labels(reader, sample.labels, limits.max_labels_per_sample); !why.empty()) {
        return why;
      }
      reader.skip_blanks();
    }
    const std::string_view value_token = reader.token();
    if (value_token.empty()) return "expected a value after " + std::string(name);
    const auto value = parse_exposition_value(value_token);
    if (!value) return "invalid value \"" + std::string(value_token.substr(0, 32)) + "\"";
    sample.value = *value;
    reader.skip_blanks();
    if (!reader.at_end()) {
      const std::string_view timestamp_token = reader.token();
      sample.timestamp_ms = parse_timestamp(timestamp_token);
      if (!sample.timestamp_ms) return "invalid timestamp \"" + std::string(timestamp_token.substr(0, 32)) + "\"";
      reader.skip_blanks();
      if (!reader.at_end()) return "unexpected text after the timestamp";
    }
    ++entries;
    if (over_limit()) return {};
    out.samples.push_back(std::move(sample));
    return {};
  }
};

}  // namespace

const std::string* ParsedSample::label(std::string_view wanted) const {
  for (const auto& [key, label_value] : labels) {
    if (key == wanted) return &label_value;
  }
  return nullptr;
}

std::optional<double> parse_exposition_value(std::string_view token) {
  bool negative = false;
  if (!token.empty() && (token.front() == '+' || token.front() == '-')) {
    negative = token.front() == '-';
    token.remove_prefix(1);
  }
  if (equals_ignoring_ascii_case(token, "inf") || equals_ignoring_ascii_case(token, "infinity")) {
    return negative ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  }
  if (equals_ignoring_ascii_case(token, "nan")) return std::numeric_limits<double>::quiet_NaN();
  // Digits and a point first: from_chars would also take "nan(...)" and "inf" spellings we
  // handled above, and a second sign.
  if (token.empty() || !(is_digit(token.front()) || token.front() == '.')) return std::nullopt;
  double value = 0;
  const auto [end, error] = std::from_chars(token.data(), token.data() + token.size(), value);
  if (error != std::errc() || end != token.data() + token.size()) return std::nullopt;
  return negative ? -value : value;
}

Result<ParsedExposition> parse_exposition(std::string_view text, const ExpositionLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return RpcError::serialization("metrics text is " + std::to_string(text.size()) + " bytes, more than the " +
                                   std::to_string(limits.max_bytes) + " allowed");
  }
  ParsedExposition out;
  LineParser parser{limits, out};
  std::size_t line_number = 0;
  while (!text.empty()) {
    const std::size_t newline = text.find('\n');
    const std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    ++line_number;
    std::string why = parser.parse(line);
    if (parser.over_limit()) {
      return RpcError::serialization("metrics text has more than " + std::to_string(limits.max_samples) +
                                     " samples and HELP/TYPE lines");
    }
    if (why.empty()) continue;
    ++out.skipped_lines;
    if (out.issues.size() < limits.max_recorded_issues) out.issues.push_back({line_number, std::move(why)});
  }
  return out;
}

}  // namespace rpcnet::metrics

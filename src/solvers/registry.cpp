// The solver registry: one line per solver. Each src/solvers/<name>.cpp defines describe_<name>_solver(), which
// gives its name, its one-line summary, its options and its factory.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <sstream>

#include "nmf/error.hpp"
#include "nmf/solvers/solver.hpp"

#define NMF_FOR_EACH_SOLVER(X) \
  X(als)                       \
  X(bpp)                       \
  X(hals)                      \
  X(mu)                        \
  X(kaczmarz)

namespace nmf {

#define NMF_DECLARE_DESCRIPTION(name) SolverInfo describe_##name##_solver();
NMF_FOR_EACH_SOLVER(NMF_DECLARE_DESCRIPTION)
#undef NMF_DECLARE_DESCRIPTION

const std::vector<SolverInfo>& solver_catalog() {
#define NMF_DESCRIBE(name) describe_##name##_solver(),
  static const std::vector<SolverInfo> catalog{NMF_FOR_EACH_SOLVER(NMF_DESCRIBE)};
#undef NMF_DESCRIBE
  return catalog;
}

const SolverInfo& find_solver(const std::string& name) {
  std::string known;
  for (const SolverInfo& info : solver_catalog()) {
    if (info.name == name) return info;
    known += (known.empty() ? "" : ", ") + info.name;
  }
  NMF_THROW(UsageError, "unknown --algo '" + name + "': known solvers are " + known);
}

SolverOptionValues default_solver_options() {
  SolverOptionValues values;
  for (const SolverInfo& info : solver_catalog())
    for (const SolverOption& option : info.options) values[option.name] = option.default_text;
  return values;
}

std::unique_ptr<LocalSolver> make_solver(const std::string& name, const SolverParams& params) {
  const SolverInfo& info = find_solver(name);
  SolverParams complete = params;
  for (const SolverOption& option : info.options) complete.options.emplace(option.name, option.default_text);
  return info.make(complete);
}

std::unique_ptr<ObservedSolver> make_observed_solver(const std::string& name, const SolverParams& params) {
  const SolverInfo& info = find_solver(name);
  if (!info.make_observed) {
    std::string having;
    for (const SolverInfo& other : solver_catalog())
      if (other.make_observed) having += (having.empty() ? "" : ", ") + other.name;
    NMF_THROW(UsageError, "--algo " + name +
                              " has no update for the recommender mode (the loss over observed ratings only); use " +
                              having + ", or --missing zero to factor the ratings as plain NMF");
  }
  SolverParams complete = params;
  for (const SolverOption& option : info.options) complete.options.emplace(option.name, option.default_text);
  return info.make_observed(complete);
}

// --- options ----------------------------------------------------------------------------------------------

namespace {

const SolverOption& declared_option(const std::string& name) {
  for (const SolverInfo& info : solver_catalog())
    for (const SolverOption& option : info.options)
      if (option.name == name) return option;
  NMF_THROW(Error, "no solver declares the option --" + name);
}

bool parse_number(const std::string& text, SolverOption::Kind kind, double& value) {
  const char* first = text.data();
  const char* last = first + text.size();
  if (kind == SolverOption::Kind::integer) {
    std::int64_t parsed = 0;
    const auto [end, ec] = std::from_chars(first, last, parsed);
    value = static_cast<double>(parsed);
    return !text.empty() && ec == std::errc() && end == last;
  }
  const auto [end, ec] = std::from_chars(first, last, value);
  return !text.empty() && ec == std::errc() && end == last && std::isfinite(value);
}

std::string bound_text(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

// "must be >= 1", "must be in (0, 2)": the admitted range in words.
std::string range_text(const SolverOption& o) {
  if (!o.has_upper) return std::string("must be ") + (o.lower_open ? "> " : ">= ") + bound_text(o.lower);
  return std::string("must be in ") + (o.lower_open ? "(" : "[") + bound_text(o.lower) + ", " + bound_text(o.upper) +
         (o.upper_open ? ")" : "]");
}

}  // namespace

SolverOption SolverOption::integer_at_least(std::string name, std::string summary_key, std::string default_text,
                                            std::string value_name, double lower, std::string help) {
  SolverOption o;
  o.name = std::move(name);
  o.summary_key = std::move(summary_key);
  o.kind = Kind::integer;
  o.default_text = std::move(default_text);
  o.value_name = std::move(value_name);
  o.help = std::move(help);
  o.lower = lower;
  return o;
}

SolverOption SolverOption::real_between(std::string name, std::string summary_key, std::string default_text,
                                        std::string value_name, double lower, double upper, std::string help) {
  SolverOption o = integer_at_least(std::move(name), std::move(summary_key), std::move(default_text),
                                    std::move(value_name), lower, std::move(help));
  o.kind = Kind::real;
  o.upper = upper;
  o.has_upper = o.lower_open = o.upper_open = true;
  return o;
}

SolverOption SolverOption::one_of(std::string name, std::string summary_key, std::vector<std::string> choices,
                                  std::string help) {
  SolverOption o;
  o.name = std::move(name);
  o.summary_key = std::move(summary_key);
  o.kind = Kind::choice;
  o.default_text = choices.front();
  for (const std::string& c : choices) o.value_name += (o.value_name.empty() ? "" : "|") + c;
  o.choices = std::move(choices);
  o.help = std::move(help);
  return o;
}

void validate_solver_option(const SolverOption& o, const std::string& text) {
  const std::string bad = "bad --" + o.name + " '" + text + "': ";
  if (o.kind == SolverOption::Kind::choice) {
    std::string expected;
    for (const std::string& choice : o.choices) {
      if (choice == text) return;
      expected += (expected.empty() ? "" : " or ") + choice;
    }
    NMF_THROW(UsageError, bad + "expected " + expected);
  }
  double value = 0;
  if (!parse_number(text, o.kind, value))
    NMF_THROW(UsageError, bad + (o.kind == SolverOption::Kind::integer ? "expected an integer" : "expected a number"));
  const bool above = o.lower_open ? value > o.lower : value >= o.lower;
  const bool below = !o.has_upper || (o.upper_open ? value < o.upper : value <= o.upper);
  if (!above || !below) NMF_THROW(UsageError, bad + range_text(o));
}

namespace {
const std::string& option_text(const SolverParams& params, const std::string& name) {
  const auto found = params.options.find(name);
  if (found != params.options.end()) return found->second;
  return declared_option(name).default_text;
}
}  // namespace

std::int64_t SolverParams::integer(const std::string& name) const {
  double value = 0;
  parse_number(option_text(*this, name), SolverOption::Kind::integer, value);
  return static_cast<std::int64_t>(value);
}

double SolverParams::real(const std::string& name) const {
  double value = 0;
  parse_number(option_text(*this, name), SolverOption::Kind::real, value);
  return value;
}

std::string SolverParams::choice(const std::string& name) const {
  return option_text(*this, name);
}

// --- what every update shares -------------------------------------------------------------------------------

void masked_gram(const UpdateInputs& inputs, index_t j, DenseMatrix& out) {
  const index_t k = inputs.gram.rows();
  out = inputs.gram;
  const double* correction = inputs.gram_corrections->col(j);
  for (index_t i = 0; i < k * k; ++i) out.data()[i] -= correction[i];
}

void share_slices(ObservedUpdate& u, FactorSide side, const DenseMatrix& slice, std::vector<double>& buffer) {
  const SharingGroup& group = side == FactorSide::A ? u.a_group : u.s_group;
  DenseMatrix& block = side == FactorSide::A ? u.a_rowblock : u.s_colblock;
  const index_t k = block.cols(), begin = group.slice_offsets[group.position];
  // Row-major pieces in group order: this rank's at its slice, the others' filled in by the gather.
  buffer.assign(static_cast<std::size_t>(block.rows() * k), 0.0);
  std::copy(slice.data(), slice.data() + slice.size(), buffer.begin() + begin * k);
  std::vector<index_t> piece_counts(static_cast<std::size_t>(group.ranks));
  for (int d = 0; d < group.ranks; ++d)
    piece_counts[static_cast<std::size_t>(d)] = k * (group.slice_offsets[d + 1] - group.slice_offsets[d]);
  u.gather(side, buffer, piece_counts);
  for (index_t i = 0; i < block.rows(); ++i)
    for (index_t f = 0; f < k; ++f) block(i, f) = buffer[static_cast<std::size_t>(i * k + f)];
}

DenseMatrix shifted_cross(const UpdateInputs& inputs) {
  DenseMatrix shifted = inputs.cross;
  if (inputs.l1 != 0.0)
    for (double& v : shifted.values()) v -= inputs.l1;
  return shifted;
}

// --- the README's table --------------------------------------------------------------------------------------

namespace {
// A table cell: '|' would end it.
std::string cell(const std::string& text) {
  std::string escaped;
  for (char c : text) escaped += c == '|' ? std::string("\\|") : std::string(1, c);
  return escaped;
}
}  // namespace

std::string solver_table_markdown() {
  std::ostringstream out;
  out << "| `--algo` | what it does | recommender mode | its options (default) |\n|---|---|---|---|\n";
  for (const SolverInfo& info : solver_catalog()) {
    out << "| `" << info.name << "` | " << cell(info.summary) << " | " << (info.make_observed ? "yes" : "no") << " | ";
    if (info.options.empty()) out << "none";
    for (std::size_t i = 0; i < info.options.size(); ++i) {
      const SolverOption& o = info.options[i];
      out << (i ? "<br>" : "") << "`--" << o.name << " " << cell(o.value_name) << "` (" << o.default_text
          << "): " << cell(o.help);
    }
    out << " |\n";
  }
  return out.str();
}

}  // namespace nmf

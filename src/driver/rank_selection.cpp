#include "nmf/driver/rank_selection.hpp"

#include <cmath>

namespace nmf {

namespace {
double mean_of(const std::vector<double>& v) {
  double sum = 0.0;
  for (double x : v) sum += x;
  return v.empty() ? 0.0 : sum / static_cast<double>(v.size());
}

double std_of(const std::vector<double>& v) {
  if (v.size() < 2) return 0.0;
  const double mean = mean_of(v);
  double sum = 0.0;
  for (double x : v) sum += (x - mean) * (x - mean);
  return std::sqrt(sum / static_cast<double>(v.size() - 1));
}
}  // namespace

RankScore score_rank(int k, const std::vector<double>& train_errors, const std::vector<double>& heldout_errors) {
  RankScore s;
  s.k = k;
  s.folds = static_cast<int>(heldout_errors.size());
  s.train_error = mean_of(train_errors);
  s.train_std = std_of(train_errors);
  s.heldout_error = mean_of(heldout_errors);
  s.heldout_std = std_of(heldout_errors);
  return s;
}

int choose_rank(const std::vector<RankScore>& scores, const std::string& rule) {
  const RankScore* best = nullptr;
  for (const RankScore& s : scores)
    if (s.folds > 0 && (!best || s.heldout_error < best->heldout_error)) best = &s;
  if (!best) return 0;
  if (rule == "min") return best->k;
  const double bound = best->heldout_error + best->heldout_std / std::sqrt(static_cast<double>(best->folds));
  for (const RankScore& s : scores)
    if (s.folds > 0 && s.heldout_error <= bound) return s.k;
  return best->k;
}

}  // namespace nmf

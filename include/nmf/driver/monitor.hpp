// Watching a factorization: the record of one iteration, pluggable stop rules and observers (loggers,
// history recorders). Kernels and solvers never time or print anything themselves.
#pragma once

#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace nmf {

struct IterationRecord {
  static constexpr double unknown = std::numeric_limits<double>::quiet_NaN();

  int iteration = 0;                    // 0 = the initial factors
  bool evaluated = false;               // whether the objective was evaluated at this iteration (--eval-every)
  double relative_error = unknown;      // ||X - A S||_F / ||X||_F for the factors after this iteration
  double objective = unknown;           // the penalized objective (driver/factorization.hpp)
  double objective_change = unknown;    // (previous - this) / previous, against the previous evaluation
  double projected_gradient = unknown;  // ||projected gradient|| relative to iteration 0's (Lin 2007)
  double heldout_error = unknown;       // cross-validation: relative error on the held-out entries
  // The recommender mode (nmf/driver/ratings_factorization.hpp): errors of the clipped predictions
  double rmse_train = unknown;  // on the training ratings
  double rmse_test = unknown;   // on the test ratings (--test, --test-fraction)
  double mae_test = unknown;
  double seconds = 0;  // since the iterations started (setup excluded), rank 0's clock, known to all ranks
};

// Decides on replicated values only, so every rank stops at the same iteration.
class StopRule {
 public:
  virtual ~StopRule() = default;
  // A reason to stop after `current` (it becomes the summary's stop_reason), or nothing.
  virtual std::optional<std::string> check(const IterationRecord& current) const = 0;
  // Whether the driver must compute the projected gradient for this rule.
  virtual bool needs_projected_gradient() const { return false; }
};

// "max_iterations": the iteration count reached the limit.
class MaxIterations final : public StopRule {
 public:
  explicit MaxIterations(int limit) : limit_(limit) {}
  std::optional<std::string> check(const IterationRecord& current) const override;

 private:
  int limit_;
};

// "tolerance": the objective changed by less than `tol`, relative to its previous evaluated value.
class ObjectiveChangeBelow final : public StopRule {
 public:
  explicit ObjectiveChangeBelow(double tol) : tol_(tol) {}
  std::optional<std::string> check(const IterationRecord& current) const override;

 private:
  double tol_;
};

// "projected_gradient": the norm of the projected gradient fell below `tol` times its initial value
// (Lin, "Projected gradient methods for non-negative matrix factorization", Neural Computation 2007).
class ProjectedGradientBelow final : public StopRule {
 public:
  explicit ProjectedGradientBelow(double tol) : tol_(tol) {}
  std::optional<std::string> check(const IterationRecord& current) const override;
  bool needs_projected_gradient() const override { return true; }

 private:
  double tol_;
};

// "time_limit": the iterations have run for at least `seconds` (rank 0's clock).
class TimeLimit final : public StopRule {
 public:
  explicit TimeLimit(double seconds) : seconds_(seconds) {}
  std::optional<std::string> check(const IterationRecord& current) const override;

 private:
  double seconds_;
};

using StopRules = std::vector<std::unique_ptr<StopRule>>;

class IterationObserver {
 public:
  virtual ~IterationObserver() = default;
  // Called on every rank for every evaluated iteration.
  virtual void on_iteration(const IterationRecord& record) = 0;
};

}  // namespace nmf

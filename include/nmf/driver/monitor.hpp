// Watching a factorization: the record of one iteration, pluggable stop rules and observers (loggers,
// history recorders). Kernels and solvers never time or print anything themselves.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace nmf {

struct IterationRecord {
  int iteration = 0;          // 0 = the initial factors
  double relative_error = 0;  // ||X - A S||_F / ||X||_F for the factors after this iteration
  double change = 0;          // relative_error of the previous iteration minus this one (0 at iteration 0)
  double seconds = 0;         // since the iterations started (setup excluded)
};

// Decides on replicated values only, so every rank stops at the same iteration.
class StopRule {
 public:
  virtual ~StopRule() = default;
  // A reason to stop after `current` ("max_iterations", "tolerance"), or nothing.
  virtual std::optional<std::string> check(const IterationRecord& current) const = 0;
};

class MaxIterations final : public StopRule {
 public:
  explicit MaxIterations(int limit) : limit_(limit) {}
  std::optional<std::string> check(const IterationRecord& current) const override;

 private:
  int limit_;
};

// Stops when the relative error changed by less than `tol` (absolute) from the previous iteration.
class ErrorChangeBelow final : public StopRule {
 public:
  explicit ErrorChangeBelow(double tol) : tol_(tol) {}
  std::optional<std::string> check(const IterationRecord& current) const override;

 private:
  double tol_;
};

class IterationObserver {
 public:
  virtual ~IterationObserver() = default;
  virtual void on_iteration(const IterationRecord& record) = 0;
};

}  // namespace nmf

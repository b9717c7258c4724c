#include "nmf/driver/factorization.hpp"

#include <cmath>

#include "iteration.hpp"

namespace nmf {

std::optional<std::string> MaxIterations::check(const IterationRecord& current) const {
  if (current.iteration >= limit_) return std::string("max_iterations");
  return std::nullopt;
}

std::optional<std::string> ObjectiveChangeBelow::check(const IterationRecord& current) const {
  if (current.iteration >= 1 && current.evaluated && std::abs(current.objective_change) < tol_)
    return std::string("tolerance");
  return std::nullopt;
}

std::optional<std::string> ProjectedGradientBelow::check(const IterationRecord& current) const {
  if (current.projected_gradient <= tol_) return std::string("projected_gradient");  // false while unknown (NaN)
  return std::nullopt;
}

std::optional<std::string> TimeLimit::check(const IterationRecord& current) const {
  if (current.seconds >= seconds_) return std::string("time_limit");
  return std::nullopt;
}

AlternatingFactorization::AlternatingFactorization(const ProcessGrid& grid, const DistMatrix& x, LocalSolver& solver,
                                                   DriverOptions options)
    : grid_(grid), x_(x), solver_(solver), options_(options) {}

namespace {

std::optional<std::string> first_stop(const StopRules& rules, const IterationRecord& record) {
  for (const auto& rule : rules)
    if (auto reason = rule->check(record)) return reason;
  return std::nullopt;
}

bool any_needs_projected_gradient(const StopRules& rules) {
  for (const auto& rule : rules)
    if (rule->needs_projected_gradient()) return true;
  return false;
}

// The evaluated iterations, in order, each shown to the observer as it arrives.
class History {
 public:
  History(std::vector<IterationRecord>& records, IterationObserver* observer)
      : records_(records), observer_(observer) {}
  void add(const IterationRecord& record) {
    records_.push_back(record);
    if (observer_) observer_->on_iteration(record);
  }
  double last_objective() const { return records_.back().objective; }

 private:
  std::vector<IterationRecord>& records_;
  IterationObserver* observer_;
};

// Where an iteration ends for both its records: A shared and the loss evaluated, the scales balanced, A^T X
// formed for the next S update, and the projected gradient from both products at the current factors.
IterationRecord complete(detail::Iteration& it, int iteration, bool evaluate, bool want_pg) {
  IterationRecord record = it.share_a(iteration, evaluate, iteration == 0 || it.updates_slices());
  if (it.balances()) it.balance_scales();
  if (it.updates_slices() || want_pg) it.product_at_x();
  if (want_pg) record.projected_gradient = it.projected_gradient();
  return record;
}

// What a checkpoint keeps of the loop after `record`: the factor slices in global order (row i of A and column j
// of S are k doubles each), what the iteration carries beside them, the history.
constexpr const char* kCarried = "carried";

LoopState state_after(const IterationRecord& record, FactorizationResult& result, const detail::Iteration& it,
                      const Layout& layout, const ProcessGrid& grid) {
  Factors& f = result.factors;
  const int a_slice = layout.a_slice_of(grid.row(), grid.col());
  const int s_slice = layout.s_slice_of(grid.row(), grid.col());
  LoopState state;
  state.iteration = record.iteration;
  state.seconds = record.seconds;
  state.arrays = {{"A", layout.n, f.a_t.rows(), layout.a_slices.begin(a_slice), f.a_t.cols(), f.a_t.data()},
                  {"S", layout.m, f.s.rows(), layout.s_slices.begin(s_slice), f.s.cols(), f.s.data()}};
  state.replicated[kCarried] = it.carried_state();
  state.history = &result.history;
  return state;
}

// The start of a resumed run, at the factors and state of the end of iteration `state.iteration` of an
// earlier one: the same steps as the end of an iteration, except that A^T A comes from the checkpoint (it was
// scaled, not formed again, by the balancing) and the scales are not balanced again.
IterationRecord resume(detail::Iteration& it, const LoopState& state, bool want_pg) {
  it.share_s(true);
  it.share_a(state.iteration, false, true);
  it.restore_carried_state(state.replicated.at(kCarried));
  if (it.updates_slices() || want_pg) it.product_at_x();
  it.start_clock(state.seconds);
  if (!state.history->empty() && state.history->back().iteration == state.iteration) return state.history->back();
  IterationRecord record;
  record.iteration = state.iteration;
  record.seconds = state.seconds;
  return record;
}

}  // namespace

void AlternatingFactorization::check(bool want_pg, const Loss& loss) const {
  NMF_REQUIRE(options_.eval_every >= 1, Error, "eval_every must be at least 1");
  if (loss.corrects_gram()) {
    NMF_REQUIRE(solver_.supports_masks(), UsageError,
                "--algo " + solver_.name() + " cannot leave entries out of its loss (" + loss.name() +
                    "): use a solver that supports masks");
    NMF_REQUIRE(!want_pg, UsageError, "--tol-pg is not available with the " + loss.name() + " loss");
  }
}

FactorizationResult AlternatingFactorization::run(Factors initial, const StopRules& rules, IterationObserver* observer,
                                                  IterationEndHook* hook) {
  const bool want_pg = any_needs_projected_gradient(rules);
  std::unique_ptr<Loss> full_loss;
  Loss& loss = options_.loss ? *options_.loss : *(full_loss = make_full_loss(x_, grid_));
  check(want_pg, loss);

  FactorizationResult result;
  result.factors = std::move(initial);
  detail::Iteration it(grid_, x_, solver_, loss, options_, result.factors, want_pg);
  History history(result.history, observer);
  const auto state = [&](const IterationRecord& at) { return state_after(at, result, it, x_.layout, grid_); };

  // Iteration 0, the initial factors (what the first S update needs, and their evaluation), or where a
  // checkpoint left off.
  it.start_loss();
  IterationRecord record;
  LoopState restored = state(record);
  if (hook && hook->restore(restored)) {
    record = resume(it, restored, want_pg);
  } else {
    it.share_s(true);
    it.product_s_xt();
    it.start_clock();
    record = complete(it, 0, true, want_pg);
    history.add(record);
  }
  const double bytes_before = it.bytes_moved();
  it.reset_phases();

  std::optional<std::string> stop = first_stop(rules, record);
  if (stop && !record.evaluated) {  // a resumed run with nothing left to do, whose last iterate was not evaluated
    it.evaluate_now(record);
    history.add(record);
  }
  while (!stop) {
    const int iteration = record.iteration + 1;
    const bool evaluate = iteration % options_.eval_every == 0;
    it.update(FactorSide::S, iteration);  // from A^T X and A^T A
    it.share_s(it.updates_slices());
    if (it.updates_slices() || evaluate || want_pg) it.product_s_xt();
    it.update(FactorSide::A, iteration);  // from S X^T and S S^T
    record = complete(it, iteration, evaluate, want_pg);
    if (record.evaluated)
      record.objective_change = (history.last_objective() - record.objective) / history.last_objective();
    // The end of the iteration: the stop rules, then the hook's signals and time limit (agreed on all ranks),
    // the last iterate evaluated if the loop stops, and the hook's checkpoint.
    stop = first_stop(rules, record);
    if (hook && !stop) stop = hook->stop_requested(iteration);
    if (stop && !record.evaluated) it.evaluate_now(record);  // the last iterate is always evaluated
    if (record.evaluated) history.add(record);
    if (hook) hook->iteration_ended(state(record), stop.value_or(""));
  }

  result.iterations = record.iteration;
  result.stop_reason = *stop;
  result.relative_error = record.relative_error;
  result.objective = record.objective;
  result.heldout_error = record.heldout_error;
  result.seconds = record.seconds;
  result.phases = it.phases();
  result.ridges = solver_.ridges_added();
  result.direct_error_evaluations = it.direct_evaluations();
  double bytes_local = it.bytes_moved() - bytes_before, bytes_total = 0;
  NMF_MPI_CHECK(MPI_Allreduce(&bytes_local, &bytes_total, 1, MPI_DOUBLE, MPI_SUM, grid_.comm()));
  result.comm_bytes_per_iteration = result.iterations > 0 ? bytes_total / result.iterations : 0.0;
  return result;
}

}  // namespace nmf

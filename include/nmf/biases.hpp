// The recommender model's terms beside A S, in the same slice layout as nmf/factors.hpp, so that the outputs,
// the top-N lists and the checkpoints handle them as they handle the factors. A prediction is
//   x_hat(i, j) = clamp(mean + rows[i] + cols[j] + a_i . s_j, low, high).
// Plain NMF has no biases (mean 0, empty vectors, no clipping).
#pragma once

#include <limits>
#include <vector>

namespace nmf {

struct Biases {
  double mean = 0;           // the global mean of the training ratings (mu)
  std::vector<double> rows;  // this rank's slice of the row biases b_i, aligned with Factors::a_t's columns
  std::vector<double> cols;  // this rank's slice of the column biases c_j, aligned with Factors::s's columns
  // The clipping range of predictions (--clip auto: the observed rating range); infinite when not clipping.
  double low = -std::numeric_limits<double>::infinity();
  double high = std::numeric_limits<double>::infinity();

  double clip(double prediction) const { return prediction < low ? low : prediction > high ? high : prediction; }
};

}  // namespace nmf

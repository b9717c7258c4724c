#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include "nmf/error.hpp"
#include "nmf/options.hpp"

namespace {

using nmf::CommandLine;
using nmf::Options;

CommandLine parse(std::initializer_list<const char*> args) {
  std::vector<const char*> argv{"nmf_mpi"};
  argv.insert(argv.end(), args.begin(), args.end());
  return nmf::parse_command_line(static_cast<int>(argv.size()), argv.data());
}

// The what() of the UsageError parsing throws, or "" if it throws nothing.
std::string usage_error(std::initializer_list<const char*> args) {
  try {
    parse(args);
  } catch (const nmf::UsageError& e) {
    return e.what();
  }
  return "";
}

std::string validation_error(const Options& o) {
  try {
    nmf::validate_options(o);
  } catch (const nmf::UsageError& e) {
    return e.what();
  }
  return "";
}

Options valid_options() {
  Options o;
  o.k = 3;
  return o;
}

// A config file in the test temp directory, removed at the end of the test.
class ConfigFile {
 public:
  explicit ConfigFile(const std::string& text)
      : path_(::testing::TempDir() + "nmf_unit_config_" + std::to_string(::getpid()) + "_" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".cfg") {
    std::ofstream out(path_);
    out << text;
  }
  ~ConfigFile() { std::remove(path_.c_str()); }
  const char* path() const { return path_.c_str(); }

 private:
  std::string path_;
};

// ----- parse_command_line ------------------------------------------------------------------------------------

TEST(ParseCommandLine, DefaultsRunTheBuiltInExample) {
  const CommandLine cli = parse({});
  EXPECT_EQ(cli.action, CommandLine::Action::run);
  const Options& o = cli.options;
  EXPECT_TRUE(o.input.empty());
  EXPECT_EQ(o.k, 3);
  EXPECT_TRUE(o.print);
  EXPECT_EQ(o.algo, "hals");
  EXPECT_EQ(o.max_iterations, 100);
  EXPECT_EQ(o.tol, 1e-6);
  EXPECT_EQ(o.seed, 1u);
  EXPECT_EQ(o.format, "auto");
  EXPECT_EQ(o.storage, "auto");
  EXPECT_EQ(o.grid, "auto");
  EXPECT_EQ(o.output_format, "mtx");
  EXPECT_EQ(o.log_every, 10);
  EXPECT_FALSE(o.quiet);
  EXPECT_FALSE(o.transpose);
  EXPECT_NO_THROW(nmf::validate_options(o));
}

TEST(ParseCommandLine, BuiltInExampleKeepsAnExplicitRank) {
  EXPECT_EQ(parse({"-k", "2"}).options.k, 2);
}

TEST(ParseCommandLine, InputWithRank) {
  const Options o = parse({"--input", "x.mtx", "-k", "5", "--iters", "7", "--tol", "0.5", "--seed", "99"}).options;
  EXPECT_EQ(o.input, "x.mtx");
  EXPECT_EQ(o.k, 5);
  EXPECT_EQ(o.max_iterations, 7);
  EXPECT_EQ(o.tol, 0.5);
  EXPECT_EQ(o.seed, 99u);
  EXPECT_FALSE(o.print);
}

TEST(ParseCommandLine, ShortAndLongNames) {
  const Options o = parse({"-i", "y.npy", "--rank", "4", "-o", "out", "--transpose", "--quiet", "--print"}).options;
  EXPECT_EQ(o.input, "y.npy");
  EXPECT_EQ(o.k, 4);
  EXPECT_EQ(o.output, "out");
  EXPECT_TRUE(o.transpose);
  EXPECT_TRUE(o.quiet);
  EXPECT_TRUE(o.print);
}

TEST(ParseCommandLine, RankRequiredWithInput) {
  const std::string message = usage_error({"--input", "x.mtx"});
  EXPECT_NE(message.find("-k/--rank is required"), std::string::npos) << message;
}

TEST(ParseCommandLine, UnknownOptionIsNamed) {
  const std::string message = usage_error({"--bogus", "3"});
  EXPECT_NE(message.find("bogus"), std::string::npos) << message;
}

TEST(ParseCommandLine, BadValueNamesTheOption) {
  const std::string iters = usage_error({"--iters", "many"});
  EXPECT_NE(iters.find("iters"), std::string::npos) << iters;
  const std::string tol = usage_error({"--tol", "small"});
  EXPECT_NE(tol.find("tol"), std::string::npos) << tol;
  const std::string rank = usage_error({"-i", "x.mtx", "-k", "2.5"});
  EXPECT_NE(rank.find("rank"), std::string::npos) << rank;
}

TEST(ParseCommandLine, MissingValue) {
  EXPECT_NE(usage_error({"--iters"}), "");
}

TEST(ParseCommandLine, Help) {
  const CommandLine cli = parse({"--help"});
  EXPECT_EQ(cli.action, CommandLine::Action::help);
  EXPECT_NE(cli.help_text.find("--rank"), std::string::npos);
  EXPECT_NE(cli.help_text.find("als"), std::string::npos);
  EXPECT_EQ(parse({"-h"}).action, CommandLine::Action::help);
  // Asking for help must not demand the options a run needs.
  EXPECT_EQ(parse({"--input", "x.mtx", "--help"}).action, CommandLine::Action::help);
}

TEST(ParseCommandLine, Version) {
  EXPECT_EQ(parse({"--version"}).action, CommandLine::Action::version);
  EXPECT_EQ(parse({"--input", "x.mtx", "--version"}).action, CommandLine::Action::version);
  EXPECT_FALSE(nmf::version_string().empty());
}

TEST(ParseCommandLine, ConfigFileSuppliesValues) {
  const ConfigFile config("# a comment\nrank = 7\niters = 5\n");
  const Options o = parse({"--config", config.path(), "--input", "x.mtx"}).options;
  EXPECT_EQ(o.k, 7);  // also satisfies "-k is required with --input"
  EXPECT_EQ(o.max_iterations, 5);
}

TEST(ParseCommandLine, CommandLineWinsOverConfigFile) {
  const ConfigFile config("rank = 7\niters = 5\n");
  const Options o = parse({"--iters", "9", "--config", config.path(), "-i", "x.mtx", "-k", "2"}).options;
  EXPECT_EQ(o.k, 2);
  EXPECT_EQ(o.max_iterations, 9);
}

TEST(ParseCommandLine, UnknownKeyInConfigFile) {
  const ConfigFile config("colour = blue\n");
  EXPECT_NE(usage_error({"--config", config.path()}).find("colour"), std::string::npos);
}

TEST(ParseCommandLine, MissingConfigFile) {
  const std::string message = usage_error({"--config", "/nonexistent/dir/nmf.cfg"});
  EXPECT_NE(message.find("/nonexistent/dir/nmf.cfg"), std::string::npos) << message;
}

TEST(ParseCommandLine, SeedAcceptsTheFull64BitRange) {
  EXPECT_EQ(parse({"--seed", "0"}).options.seed, 0u);
  EXPECT_EQ(parse({"--seed", "18446744073709551615"}).options.seed, 18446744073709551615ull);
}

TEST(ParseCommandLine, SeedRejectsNegatives) {
  EXPECT_NE(usage_error({"--seed=-5"}).find("--seed"), std::string::npos);
  EXPECT_NE(usage_error({"--seed", "-5"}), "");
}

TEST(ParseCommandLine, SeedRejectsNonNumbers) {
  EXPECT_NE(usage_error({"--seed", "abc"}).find("bad --seed 'abc'"), std::string::npos);
  EXPECT_NE(usage_error({"--seed", "12x"}).find("bad --seed"), std::string::npos);
  EXPECT_NE(usage_error({"--seed", "1.5"}).find("bad --seed"), std::string::npos);
  EXPECT_NE(usage_error({"--seed", "18446744073709551616"}).find("bad --seed"), std::string::npos);
}

TEST(ParseCommandLine, CommandLineIsRecordedWithQuotes) {
  const Options o = parse({"-i", "my matrix.mtx", "-k", "2", "-o", "it's", "--format", ""}).options;
  EXPECT_EQ(o.command_line, "nmf_mpi -i 'my matrix.mtx' -k 2 -o 'it'\\''s' --format ''");
}

// ----- validate_options --------------------------------------------------------------------------------------

TEST(ValidateOptions, AcceptsValidOptions) {
  Options o = valid_options();
  o.grid = "2x3";
  o.format = "npy";
  o.storage = "sparse";
  o.output_format = "npy";
  o.max_iterations = 0;
  o.tol = 0.0;
  EXPECT_NO_THROW(nmf::validate_options(o));
}

TEST(ValidateOptions, RankBelowOne) {
  Options o = valid_options();
  o.k = 0;
  EXPECT_NE(validation_error(o).find("-k/--rank 0"), std::string::npos);
  o.k = -2;
  EXPECT_NE(validation_error(o).find("--rank"), std::string::npos);
}

TEST(ValidateOptions, NegativeIterations) {
  Options o = valid_options();
  o.max_iterations = -1;
  EXPECT_NE(validation_error(o).find("--iters"), std::string::npos);
}

TEST(ValidateOptions, NegativeOrNaNTolerance) {
  Options o = valid_options();
  o.tol = -1e-3;
  EXPECT_NE(validation_error(o).find("--tol"), std::string::npos);
  o.tol = std::nan("");
  EXPECT_NE(validation_error(o).find("--tol"), std::string::npos);
}

TEST(ValidateOptions, LogEveryZero) {
  Options o = valid_options();
  o.log_every = 0;
  EXPECT_NE(validation_error(o).find("--log-every"), std::string::npos);
}

TEST(ValidateOptions, ReadChunkOutOfRange) {
  Options o = valid_options();
  o.read_chunk_mb = 0;  // the default: the format's own
  EXPECT_EQ(validation_error(o), "");
  o.read_chunk_mb = -1;
  EXPECT_NE(validation_error(o).find("--read-chunk-mb"), std::string::npos);
  o.read_chunk_mb = 1025;
  EXPECT_NE(validation_error(o).find("--read-chunk-mb"), std::string::npos);
}

TEST(ValidateOptions, BadFormat) {
  Options o = valid_options();
  o.format = "csv";
  EXPECT_NE(validation_error(o).find("--format 'csv'"), std::string::npos);
}

TEST(ValidateOptions, BadStorage) {
  Options o = valid_options();
  o.storage = "compressed";
  EXPECT_NE(validation_error(o).find("--storage 'compressed'"), std::string::npos);
}

TEST(ValidateOptions, BadOutputFormat) {
  Options o = valid_options();
  o.output_format = "auto";
  EXPECT_NE(validation_error(o).find("--output-format 'auto'"), std::string::npos);
}

TEST(ValidateOptions, BadGrid) {
  Options o = valid_options();
  o.grid = "2by3";
  EXPECT_NE(validation_error(o).find("--grid"), std::string::npos);
}

TEST(ValidateOptions, BadAlgoListsKnownSolvers) {
  Options o = valid_options();
  o.algo = "sgd";
  const std::string message = validation_error(o);
  EXPECT_NE(message.find("'sgd'"), std::string::npos) << message;
  EXPECT_NE(message.find("als"), std::string::npos) << message;
}

TEST(ValidateRankForShape, AcceptsRanksUpToTheSmallerDimension) {
  EXPECT_NO_THROW(nmf::validate_rank_for_shape(1, 3, 5));
  EXPECT_NO_THROW(nmf::validate_rank_for_shape(3, 3, 5));
  EXPECT_NO_THROW(nmf::validate_rank_for_shape(5, 8, 5));
}

TEST(ValidateRankForShape, RankAboveMinDimension) {
  try {
    nmf::validate_rank_for_shape(4, 3, 5);
    FAIL() << "k = 4 exceeds min(3, 5)";
  } catch (const nmf::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("min(n, m) = 3"), std::string::npos) << e.what();
  }
  EXPECT_THROW(nmf::validate_rank_for_shape(6, 8, 5), nmf::UsageError);
}

TEST(ValidateRankForShape, RankBelowOne) {
  // The header promises 1 <= k <= min(n, m).
  EXPECT_THROW(nmf::validate_rank_for_shape(0, 3, 5), nmf::UsageError);
  EXPECT_THROW(nmf::validate_rank_for_shape(-1, 3, 5), nmf::UsageError);
}

}  // namespace

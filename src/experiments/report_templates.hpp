// The report templates of the experiments (src/experiments/reports/NAME.md),
// compiled into the program so that a run needs no file beside it.
#pragma once

#include <string_view>

namespace diffgen {

// The template of report NAME (the file name without .md); std::logic_error
// when there is none (a build without the file is a bug).
std::string_view report_template(std::string_view name);

}  // namespace diffgen

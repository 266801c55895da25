// Run a piece of code on the real kernel inside a private network namespace (a forked
// child that unshares its network namespace and brings lo up), so nothing it sends can
// leave the machine.
#pragma once
#include <functional>
#include <string>

namespace usnet::cli {

// Runs fn in the child and returns what it returned; on failure returns false and sets *why.
bool run_in_private_netns(const std::function<std::string()>& fn, std::string* out, std::string* why);

}  // namespace usnet::cli

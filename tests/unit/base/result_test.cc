// Result<T>: a value or an RpcError; Result<void>.
#include "rpcnet/result.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include <cerrno>
#include <cstddef>

#include "usnet/errors.hpp"

namespace usnet {

namespace {
struct Row {
    int no;
    const char* name;
    const char* rule;
    const char* reason;
    const char* calls;
};
const Row kRows[] = {
    {0, "None", "", "success", ""},
#define USNET_ERR_ROW(name, no, rule, reason, calls) {no, #name, rule, reason, calls},
    USNET_ERRORS(USNET_ERR_ROW)
#undef USNET_ERR_ROW
};
static_assert(sizeof(kRows) / sizeof(kRows[0]) == size_t(Err::Count));
const Row& row(Err e) { return kRows[size_t(e) < size_t(Err::Count) ? size_t(e) : 0]; }
}  // namespace

int to_errno(Err e) { return row(e).no; }
const char* rule_of(Err e) { return row(e).rule; }
const char* reason_of(Err e) { return row(e).reason; }
const char* name_of(Err e) { return row(e).name; }
const char* calls_of(Err e) { return row(e).calls; }

Err pending_error_from_errno(int err) {
    switch (err) {
        case ECONNREFUSED: return Err::PeerRefused;
        case EHOSTUNREACH: return Err::PeerHostUnreach;
        case ENETUNREACH: return Err::PeerNetUnreach;
        case ENOPROTOOPT: return Err::PeerProtoUnreach;
        case EMSGSIZE: return Err::PeerMsgSize;
        case EHOSTDOWN: return Err::PeerHostDown;
        case ENONET: return Err::PeerNoNet;
        case EPROTO: return Err::PeerProto;
        case EOPNOTSUPP: return Err::PeerOpNotSupp;
        default: return Err::PeerHostUnreach;
    }
}

}  // namespace usnet

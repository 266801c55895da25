// Netlink (RFC 3549) and rtnetlink messages: nlmsghdr, the family headers (ifinfomsg,
// ifaddrmsg, rtmsg, ndmsg) and rtattr attributes. Netlink is host byte order and 4-byte
// aligned; the layouts are the kernel's uapi structs, so views read them in place.
#pragma once
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace usnet::wire {

constexpr uint32_t nl_align(uint32_t n) { return (n + 3u) & ~3u; }
constexpr uint32_t kNlHdrLen = sizeof(nlmsghdr);  // 16
constexpr uint32_t kRtaHdrLen = sizeof(rtattr);   // 4

// One message of a datagram: its header, and its payload (family header, then attributes).
struct NlMsg {
    nlmsghdr h{};
    std::span<const uint8_t> payload;  // nlmsg_len - 16 bytes
    // The family header (T) at the payload's start; false when the payload is shorter.
    template <class T>
    bool fam(T* out) const {
        if (payload.size() < sizeof(T)) return false;
        std::memcpy(out, payload.data(), sizeof(T));
        return true;
    }
    // The attributes after a family header of hdr_len bytes (aligned).
    std::span<const uint8_t> attrs(uint32_t hdr_len) const {
        const uint32_t off = nl_align(hdr_len);
        return off >= payload.size() ? std::span<const uint8_t>() : payload.subspan(off);
    }
};

// Walks the messages of a datagram as netlink_rcv_skb does: stops at the first header that
// is short or claims more than what is left.
class NlMsgIter {
public:
    explicit NlMsgIter(std::span<const uint8_t> b) : b_(b) {}
    bool next(NlMsg* m) {
        if (b_.size() < kNlHdrLen) return false;
        std::memcpy(&m->h, b_.data(), kNlHdrLen);
        if (m->h.nlmsg_len < kNlHdrLen || m->h.nlmsg_len > b_.size()) return false;
        m->payload = b_.subspan(kNlHdrLen, m->h.nlmsg_len - kNlHdrLen);
        const uint32_t adv = nl_align(m->h.nlmsg_len);
        b_ = adv >= b_.size() ? std::span<const uint8_t>() : b_.subspan(adv);
        return true;
    }

private:
    std::span<const uint8_t> b_;
};

// A parsed attribute.
struct Rta {
    uint16_t type = 0;  // without NLA_F_NESTED / NLA_F_NET_BYTEORDER
    std::span<const uint8_t> data;
    bool u32(uint32_t* v) const {
        if (data.size() < 4) return false;
        std::memcpy(v, data.data(), 4);
        return true;
    }
    bool u8(uint8_t* v) const {
        if (data.empty()) return false;
        *v = data[0];
        return true;
    }
};

enum class RtaError { Ok, Malformed };

// The attributes indexed by type (the last of a type wins, as nla_parse); types above max
// are skipped. Malformed: an attribute shorter than its header or longer than what is left
// (nla_parse's -EINVAL).
inline RtaError parse_attrs(std::span<const uint8_t> b, std::vector<Rta>* tb, uint16_t max) {
    tb->assign(size_t(max) + 1, Rta{});
    while (b.size() >= kRtaHdrLen) {
        uint16_t len, type;
        std::memcpy(&len, b.data(), 2);
        std::memcpy(&type, b.data() + 2, 2);
        if (len < kRtaHdrLen || len > b.size()) return RtaError::Malformed;
        type &= NLA_TYPE_MASK;
        if (type <= max) (*tb)[type] = Rta{type, b.subspan(kRtaHdrLen, len - kRtaHdrLen)};
        const uint32_t adv = nl_align(len);
        b = adv >= b.size() ? std::span<const uint8_t>() : b.subspan(adv);
    }
    return RtaError::Ok;
}

// Builds messages into a byte vector: begin() a message, put its family header and
// attributes, end() fixes its length.
class NlWriter {
public:
    explicit NlWriter(std::vector<uint8_t>& out) : o_(out) {}
    void begin(uint16_t type, uint16_t flags, uint32_t seq, uint32_t pid) {
        start_ = o_.size();
        nlmsghdr h{0, type, flags, seq, pid};
        put_raw(&h, sizeof h);
    }
    template <class T>
    void fam(const T& t) { put_raw(&t, sizeof t); }
    void attr(uint16_t type, const void* data, size_t n) {
        rtattr a{uint16_t(kRtaHdrLen + n), type};
        put_raw(&a, sizeof a);
        put_raw(data, n);
    }
    void bytes(const void* p, size_t n) { put_raw(p, n); }
    void attr_u8(uint16_t type, uint8_t v) { attr(type, &v, 1); }
    void attr_u32(uint16_t type, uint32_t v) { attr(type, &v, 4); }
    void attr_str(uint16_t type, const char* s) { attr(type, s, std::strlen(s) + 1); }
    // An IPv4 address in network order, from host order.
    void attr_in(uint16_t type, uint32_t host_order) {
        const uint32_t n = __builtin_bswap32(host_order);
        attr(type, &n, 4);
    }
    void end() {
        const uint32_t len = uint32_t(o_.size() - start_);
        std::memcpy(o_.data() + start_, &len, 4);
    }
    size_t size() const { return o_.size(); }

private:
    // Appends n bytes and pads to 4, as NLMSG_ALIGN / RTA_ALIGN.
    void put_raw(const void* p, size_t n) {
        const auto* b = static_cast<const uint8_t*>(p);
        o_.insert(o_.end(), b, b + n);
        o_.resize(o_.size() + (nl_align(uint32_t(n)) - n), 0);
    }
    std::vector<uint8_t>& o_;
    size_t start_ = 0;
};

}  // namespace usnet::wire

#include "sim/switch_uplink.hpp"

#include <atomic>
#include <cstring>
#include <map>

#include "buf/packet.hpp"
#include "link/tap.hpp"
#include "link/vxlan.hpp"
#include "wire/ethernet.hpp"

namespace usnet::sim {

namespace {

// The kernel on the other side of a TAP is one more station on the segment (or a bridge
// to many). Opened without a virtio header: frames go on to hosts that verify checksums.
class TapUplink : public SwitchUplink, public ExternalPort {
public:
    explicit TapUplink(std::unique_ptr<link::TapDevice> d) : dev_(std::move(d)) {}
    std::string name() const override { return "tap:" + dev_->name(); }
    uint32_t mtu() const override { return dev_->kernel_mtu(); }
    void attach(Network& net, int segment) override { id_ = net.add_uplink(segment, this); }
    void wait(Time timeout) override { dev_->wait(timeout); }
    void take_in(Network& net) override {
        dev_->receive(pool_, mtu() + wire::kEthHeaderLen, [&](buf::PacketPtr f, bool cut) {
            if (cut) ++too_big_;
            else net.inject(id_, f->data(), f->size(), false);
        });
    }
    void flush() override {}
    void deliver(const uint8_t* frame, uint32_t len) override {
        if (len > mtu() + wire::kEthHeaderLen) ++too_big_;
        else dev_->transmit(frame, len);
    }
    std::string stats() const override {
        const link::TapStats& s = dev_->stats();
        return name() + ": " + std::to_string(s.rx_frames) + " frames in, " + std::to_string(s.tx_frames) +
               " out; dropped: " + std::to_string(too_big_) + " longer than the MTU, " + std::to_string(s.tx_errors) +
               " refused by the kernel";
    }

private:
    std::unique_ptr<link::TapDevice> dev_;
    buf::Pool pool_;
    int id_ = -1;
    uint64_t too_big_ = 0;
};

// One endpoint, a port per remote: the segment learns which remote each MAC is behind and
// floods the rest to all of them (head-end replication); a frame from one remote never
// goes on to another (they all heard its sender directly: split horizon).
class VxlanUplink : public SwitchUplink {
public:
    explicit VxlanUplink(std::unique_ptr<link::VxlanEndpoint> e) : ep_(std::move(e)) {
        for (size_t r = 0; r < ep_->options().remotes.size(); ++r) remotes_.push_back(Remote{ep_.get(), r, -1});
    }
    std::string name() const override {
        std::string n;
        for (const auto& r : ep_->options().remotes)
            n += (n.empty() ? "vxlan:" : "+") + r.addr.str() + ":" + std::to_string(r.port);
        return n + ",vni=" + std::to_string(ep_->options().vni);
    }
    uint32_t mtu() const override { return ep_->inner_mtu(); }
    void attach(Network& net, int segment) override {
        static std::atomic<int> next_horizon{1};
        const int horizon = next_horizon.fetch_add(1);
        for (Remote& r : remotes_) r.id = net.add_uplink(segment, &r, horizon);
    }
    void wait(Time timeout) override { ep_->wait(timeout); }
    void take_in(Network& net) override {
        while (ep_->receive([&](size_t r, const uint8_t* f, uint32_t len) { net.inject(remotes_[r].id, f, len, false); }) ==
               link::VxlanEndpoint::kBatch) {
        }
    }
    void flush() override { ep_->flush(); }
    std::string stats() const override {
        const link::VxlanStats& s = ep_->stats();
        return name() + ": " + std::to_string(s.rx) + " datagrams in, " + std::to_string(s.tx) + " out; dropped: " +
               std::to_string(s.rx_bad_header) + " malformed, " + std::to_string(s.rx_other_vni) + " for another VNI, " +
               std::to_string(s.rx_unknown_remote) + " from unknown endpoints, " + std::to_string(s.tx_too_big) +
               " too big for the underlay, " + std::to_string(s.tx_errors) + " refused by the kernel";
    }

private:
    struct Remote : ExternalPort {
        Remote(link::VxlanEndpoint* e, size_t i, int d) : ep(e), index(i), id(d) {}
        link::VxlanEndpoint* ep;
        size_t index;
        int id;
        void deliver(const uint8_t* frame, uint32_t len) override { ep->send(index, frame, len); }
    };
    std::unique_ptr<link::VxlanEndpoint> ep_;
    std::vector<Remote> remotes_;
};

}  // namespace

std::vector<std::unique_ptr<SwitchUplink>> open_uplinks(const std::vector<std::string>& specs, std::string* err) {
    std::vector<std::unique_ptr<SwitchUplink>> out;
    auto fail = [&](const std::string& spec, const std::string& why) {
        *err = "uplink " + spec + ": " + why;
        return std::vector<std::unique_ptr<SwitchUplink>>();
    };
    // vxlan specs by local endpoint, merged into one endpoint each.
    std::map<std::pair<uint32_t, uint16_t>, link::VxlanOptions> vx;
    std::vector<std::pair<uint32_t, uint16_t>> order;
    for (const std::string& s : specs) {
        if (s.rfind("tap:", 0) == 0) {
            TapOptions o;
            o.name = s.substr(4);
            o.vnet_hdr = false;
            auto dev = link::TapDevice::open(o, err);
            if (!dev) return fail(s, *err);
            out.push_back(std::make_unique<TapUplink>(std::move(dev)));
        } else if (s.rfind("vxlan:", 0) == 0) {
            link::VxlanOptions o;
            if (!link::parse_vxlan_spec(s.substr(6), &o, err)) return fail(s, *err);
            const auto key = std::make_pair(o.local_addr.v, o.local_port);
            auto [it, fresh] = vx.try_emplace(key, o);
            if (fresh) {
                order.push_back(key);
            } else {
                if (it->second.vni != o.vni) return fail(s, "one local endpoint carries one VNI");
                it->second.remotes.push_back(o.remotes.front());
            }
        } else {
            return fail(s, "expected tap:NAME or vxlan:REMOTE[:PORT],vni=N[,local=[ADDR][:PORT]]");
        }
    }
    for (const auto& key : order) {
        auto ep = link::VxlanEndpoint::open(vx[key], err);
        if (!ep) return fail("vxlan", *err);
        out.push_back(std::make_unique<VxlanUplink>(std::move(ep)));
    }
    return out;
}

}  // namespace usnet::sim

#include "link/pcap.hpp"

namespace usnet::link {

bool PcapWriter::open(const std::string& path) {
    out_.open(path, std::ios::binary | std::ios::trunc);
    if (!out_) return false;
    // Magic for nanosecond timestamps, version 2.4, snaplen 262144, LINKTYPE_ETHERNET.
    const uint32_t hdr[6] = {0xa1b23c4d, 0x00040002, 0, 0, 262144, 1};
    out_.write(reinterpret_cast<const char*>(hdr), sizeof hdr);
    return bool(out_);
}

void PcapWriter::write(Time t, const uint8_t* p, uint32_t n) {
    if (!out_) return;
    const uint32_t rec[4] = {uint32_t(t / kSec), uint32_t(t % kSec), n, n};
    out_.write(reinterpret_cast<const char*>(rec), sizeof rec);
    out_.write(reinterpret_cast<const char*>(p), n);
    out_.flush();
}

}  // namespace usnet::link

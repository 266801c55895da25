// Receive timestamps: SIOCGSTAMP/SIOCGSTAMPNS (sock_gettstamp), SO_TIMESTAMP, SO_TIMESTAMPNS
// and SO_TIMESTAMPING in their old and new (64-bit) forms (__sock_recv_timestamp). Only what
// is stable is compared: presence, cmsg level/type/length, and that a stamp lies between
// the moment before the datagram was sent and the end of the call that reports it.
#include <linux/net_tstamp.h>
#include <sys/ioctl.h>

#include "harness.hpp"

using namespace conformance;

#ifndef SIOCGSTAMP
#define SIOCGSTAMP 0x8906  // SIOCGSTAMP_OLD on 64-bit (linux/sockios.h)
#define SIOCGSTAMPNS 0x8907
#endif
#ifndef SIOCGSTAMP_NEW
#define SIOCGSTAMP_NEW _IOR(0x89, 0x06, long long[2])
#define SIOCGSTAMPNS_NEW _IOR(0x89, 0x07, long long[2])
#endif

namespace {

// A socket bound to 127.0.0.1:port and a sender, with the time window opened.
int pair(T& t, uint16_t port, int* tx) {
    int rx = t.socket(AF_INET, SOCK_DGRAM);
    t.bind(rx, addr("127.0.0.1", port));
    *tx = t.socket(AF_INET, SOCK_DGRAM);
    return rx;
}

void send_one(T& t, int tx, uint16_t port) {
    t.mark_time();
    t.sendto(tx, "stamp", addr("127.0.0.1", port));
}

#define REQ(r) r, #r

}  // namespace

SCENARIO(Stamp, IoctlBeforeAndAfterADatagram) {
    int tx;
    int rx = pair(t, 7000, &tx);
    t.ioctl_stamp(rx, REQ(SIOCGSTAMP));
    t.ioctl_stamp(rx, REQ(SIOCGSTAMPNS));
    t.ioctl_stamp(rx, REQ(SIOCGSTAMP_NEW));
    t.ioctl_stamp(rx, REQ(SIOCGSTAMPNS_NEW));
    t.ioctl_stamp(rx, REQ(SIOCGSTAMP), true);
    send_one(t, tx, 7000);
    // Queued, not yet received: still nothing.
    t.ioctl_stamp(rx, REQ(SIOCGSTAMP));
    t.recv(rx);
    t.ioctl_stamp(rx, REQ(SIOCGSTAMP));
    t.ioctl_stamp(rx, REQ(SIOCGSTAMPNS));
    t.ioctl_stamp(rx, REQ(SIOCGSTAMP_NEW));
    t.ioctl_stamp(rx, REQ(SIOCGSTAMPNS_NEW));
    t.ioctl_stamp(rx, REQ(SIOCGSTAMP), true);
    send_one(t, tx, 7000);
    t.recv(rx, 2048, MSG_PEEK);
    t.ioctl_stamp(rx, REQ(SIOCGSTAMPNS));
    t.recv(rx);
    t.ioctl_stamp(rx, REQ(SIOCGSTAMPNS));
    // A socket that never received anything.
    t.ioctl_stamp(tx, REQ(SIOCGSTAMP));
}

SCENARIO(Stamp, IoctlOnPingSocket) {
    int p = t.socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    t.ioctl_stamp(p, REQ(SIOCGSTAMP));
    t.mark_time();
    t.sendto(p, std::string("\x08\x00\x00\x00\x00\x00\x00\x01", 8), addr("127.0.0.1", 0));
    t.recv(p);
    t.ioctl_stamp(p, REQ(SIOCGSTAMP));
    t.ioctl_stamp(p, REQ(SIOCGSTAMPNS));
}

SCENARIO(Stamp, OptionsRoundTrip) {
    int s = t.socket(AF_INET, SOCK_DGRAM);
    const int names[] = {SO_TIMESTAMP_OLD, SO_TIMESTAMPNS_OLD, SO_TIMESTAMP_NEW, SO_TIMESTAMPNS_NEW};
    auto all = [&] {
        for (int n : names) t.getsockopt_int(s, SOL_SOCKET, n);
        t.getsockopt_raw(s, SOL_SOCKET, SO_TIMESTAMPING_OLD, 8);
        t.getsockopt_raw(s, SOL_SOCKET, SO_TIMESTAMPING_NEW, 8);
    };
    all();
    for (int n : names) {
        t.setsockopt_int(s, SOL_SOCKET, n, 1);
        all();
    }
    t.setsockopt_int(s, SOL_SOCKET, SO_TIMESTAMPNS_NEW, 0);
    all();
    t.setsockopt_int(s, SOL_SOCKET, SO_TIMESTAMP_OLD, 1, 2);
    t.setsockopt_int(s, SOL_SOCKET, SO_TIMESTAMPING_OLD, SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE);
    all();
    t.setsockopt_int(s, SOL_SOCKET, SO_TIMESTAMPING_NEW, SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE);
    all();
    t.getsockopt_raw(s, SOL_SOCKET, SO_TIMESTAMPING_OLD, 4);
    t.getsockopt_raw(s, SOL_SOCKET, SO_TIMESTAMPING_OLD, 12);
    // OPT_STATS needs OPT_TSONLY; a short value.
    t.setsockopt_int(s, SOL_SOCKET, SO_TIMESTAMPING_OLD, SOF_TIMESTAMPING_OPT_STATS);
    t.setsockopt_int(s, SOL_SOCKET, SO_TIMESTAMPING_OLD, SOF_TIMESTAMPING_SOFTWARE, 2);
    int st[2] = {SOF_TIMESTAMPING_RX_SOFTWARE, 0};
    t.setsockopt_raw(s, SOL_SOCKET, SO_TIMESTAMPING_OLD, st, sizeof st);
    all();
    t.setsockopt_int(s, SOL_SOCKET, SO_TIMESTAMPING_OLD, 0);
    all();
}

SCENARIO(Stamp, ControlMessages) {
    int tx;
    int rx = pair(t, 7001, &tx);
    const std::pair<int, const char*> opts[] = {{SO_TIMESTAMP_OLD, "SO_TIMESTAMP_OLD"},
                                                {SO_TIMESTAMPNS_OLD, "SO_TIMESTAMPNS_OLD"},
                                                {SO_TIMESTAMP_NEW, "SO_TIMESTAMP_NEW"},
                                                {SO_TIMESTAMPNS_NEW, "SO_TIMESTAMPNS_NEW"}};
    // The kernel turns receive stamping on machine-wide from a work queue (net_enable_timestamp):
    // a datagram right after the first request may arrive unstamped, which only a
    // SO_TIMESTAMPING report shows. Give it time once.
    t.setsockopt_int(rx, SOL_SOCKET, SO_TIMESTAMP_OLD, 1);
    t.sleep_ms(100);
    for (const auto& [o, n] : opts) {
        t.note(n);
        t.setsockopt_int(rx, SOL_SOCKET, o, 1);
        send_one(t, tx, 7001);
        t.recv(rx);
    }
    t.setsockopt_int(rx, SOL_SOCKET, SO_TIMESTAMPNS_NEW, 0);
    send_one(t, tx, 7001);
    t.recv(rx);
    // Software receive stamps, old and new layout; alone and with SO_TIMESTAMP.
    t.setsockopt_int(rx, SOL_SOCKET, SO_TIMESTAMPING_OLD, SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE);
    send_one(t, tx, 7001);
    t.recv(rx);
    t.setsockopt_int(rx, SOL_SOCKET, SO_TIMESTAMPING_NEW, SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE);
    send_one(t, tx, 7001);
    t.recv(rx);
    t.setsockopt_int(rx, SOL_SOCKET, SO_TIMESTAMPNS_OLD, 1);
    send_one(t, tx, 7001);
    t.recv(rx);
    // A control buffer too small for both: MSG_CTRUNC.
    send_one(t, tx, 7001);
    t.recv(rx, 2048, 0, 40);
    // Reporting without generating: RX_SOFTWARE alone reports nothing.
    t.setsockopt_int(rx, SOL_SOCKET, SO_TIMESTAMPNS_OLD, 0);
    t.setsockopt_int(rx, SOL_SOCKET, SO_TIMESTAMPING_OLD, SOF_TIMESTAMPING_RX_SOFTWARE);
    send_one(t, tx, 7001);
    t.recv(rx);
}

SCENARIO(Stamp, EnabledAfterQueued) {
    int tx;
    int rx = pair(t, 7002, &tx);
    send_one(t, tx, 7002);
    t.setsockopt_int(rx, SOL_SOCKET, SO_TIMESTAMP_OLD, 1);
    t.recv(rx);
}

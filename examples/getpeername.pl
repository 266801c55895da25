#!/usr/bin/perl

use strict;
use warnings;
use Socket;

socket(my $socket, PF_INET, SOCK_DGRAM, 0) or die $!;
my $iaddr     = inet_aton('8.8.8.8');
my $sock_addr = pack_sockaddr_in(53, $iaddr);
send($socket, '', 0, $sock_addr);
my $peername  = getpeername($socket) or die $!;
